"""``dlm push`` and ``dlm pull``: a document's pack and its locked targets' cache entries,
to and from a remote.

Push uploads blobs first, then the entries that name them, then the pack's index: a reader that
sees an index or an entry finds everything it names. Pull fetches only what the store lacks and
checks every byte (remote/action_cache.py, remote/objects.py); a pack it downloads goes through
``dlm unpack``'s checks before anything is written.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from dlmbuild.engine.remote import RemoteObjectRefused
from dlmbuild.errors import EXIT_VERIFY_MISMATCH, DlmError, UsageError

PACK_SUFFIX = ".dlm.pack"


@dataclass
class Transfer:
    """What a push or pull moved."""

    sent: list[str] = field(default_factory=list)  # target names uploaded or fetched
    present: list[str] = field(default_factory=list)  # already on the other side
    withheld: list[str] = field(default_factory=list)  # base-derived, the base's licence keeps them here
    pack_size: int = 0


def _locked(doc: Path, verb: str):
    from dlmbuild.project import Project
    from dlmbuild.rules.lock_view import lock_here

    lock = lock_here(Project.open(doc))
    if lock is None or not lock.targets:
        raise UsageError(f"nothing is built yet: run `dlm build {doc}` before {verb}")
    return lock


def push_entries(doc: Path, cache_remote, *, verb: str = "pushing") -> Transfer:
    """Upload the action-cache entries of ``doc``'s locked targets that the remote lacks."""
    from dlmbuild.project import Project

    lock = _locked(doc, verb)
    project = Project.open(doc)
    cache = _local_cache(project)
    moved = Transfer()
    for name, target in sorted(lock.targets.items()):
        if not cache_remote.shares_rule(target.rule):
            moved.withheld.append(name)
        elif cache.lookup(target.key) is None:
            raise UsageError(f"{name}'s output (key {target.key[:12]}) is not in the store; run `dlm build {doc}` before {verb}")
        elif cache_remote.upload_entry(target.key, cache):
            moved.sent.append(name)
        else:
            moved.present.append(name)
    return moved


def push_document(doc: Path, cache_remote) -> Transfer:
    """The pack (refused when the document changed since its build) and the locked entries."""
    from dlmbuild.pack.write import pack_document
    from dlmbuild.remote.objects import sha256_file

    _locked(doc, "pushing")
    store = cache_remote.store
    with tempfile.TemporaryDirectory(prefix="dlm-push-") as scratch:
        pack = Path(scratch) / (doc.name.removesuffix(".dlm") + PACK_SUFFIX)
        manifest, _count = pack_document(doc, pack)
        moved = push_entries(doc, cache_remote)
        sha = sha256_file(pack)
        store.put_blob(pack, sha)
        index = {"document": doc.name, "dlm_id": manifest["dlm_id"], "pack": sha, "size": pack.stat().st_size,
                 "base_model": manifest.get("base_model"), "base": manifest.get("base", {})}
        store.put_json(index, store.pack_index_path(doc.name), Path(scratch))
        moved.pack_size = pack.stat().st_size
    return moved


def pull_entries(doc: Path, cache_remote) -> Transfer:
    """Fetch the entries of ``doc``'s locked targets that the store lacks."""
    from dlmbuild.project import Project

    lock = _locked(doc, "pulling its targets (or pull its pack: `dlm pull NAME --remote R`)")
    project = Project.open(doc)
    cache = _local_cache(project)
    moved = Transfer()
    missing = []
    for name, target in sorted(lock.targets.items()):
        if not cache_remote.shares_rule(target.rule):
            moved.withheld.append(name)
        elif cache.lookup(target.key) is not None:
            moved.present.append(name)
        else:
            try:
                hit = cache_remote.fetch_entry(target.key, name, cache)
            except RemoteObjectRefused as exc:
                raise DlmError(f"remote {cache_remote.name}: refused {name} ({exc}); the store is unchanged",
                               exit_code=EXIT_VERIFY_MISMATCH) from None
            (moved.sent if hit is not None else missing).append(name)
    if missing and not moved.sent and not moved.present:
        raise UsageError(f"remote {cache_remote.name} has none of {doc.name}'s locked targets "
                         f"(push them from a machine that built it: `dlm push {doc}`)")
    cache.filestate.save()
    return moved


def pull_pack(store, name: str, dest_file: Path) -> dict:
    """Download the pack the remote's index names for document ``name`` to ``dest_file``."""
    document = name if name.endswith(".dlm") else f"{name}.dlm"
    try:
        index = store.read_json(store.pack_index_path(document))
    except RemoteObjectRefused as exc:
        raise DlmError(f"the remote's index for {document} is damaged ({exc})", exit_code=EXIT_VERIFY_MISMATCH) from None
    if index is None:
        raise UsageError(f"the remote has no pack for {document} (push one with `dlm push {document}`)")
    sha, size = index.get("pack"), index.get("size")
    if not isinstance(sha, str) or not isinstance(size, int):
        raise DlmError(f"the remote's index for {document} is damaged", exit_code=EXIT_VERIFY_MISMATCH)
    try:
        store.get_blob(sha, dest_file, size)
    except RemoteObjectRefused as exc:
        raise DlmError(f"refused {document}'s pack from the remote ({exc})", exit_code=EXIT_VERIFY_MISMATCH) from None
    return index


def download_url(url: str, dest_file: Path) -> None:
    """Fetch a pack by URL (any fsspec URL); the pack's own manifest is what checks it."""
    from dlmbuild.remote.urls import check_url, filesystem

    fs, path = filesystem(check_url(url), {})
    try:
        fs.get_file(path, str(dest_file))
    except FileNotFoundError:
        raise UsageError(f"{url}: no such pack") from None


def _local_cache(project):
    from dlmbuild.engine.actioncache import ActionCache

    return ActionCache(project.layout.actions, project.filestate)
