"""Unpacking a ``.dlm.pack``: the document into a folder, what it built into the store.

Everything is extracted and checked first (``archive.extract_pack``: hashes, sizes, paths, a
size cap) into a scratch folder beside the destination; only then are files moved into place,
so a refused pack writes nothing. Into the store:
- action-cache entries are content-addressed by key: one already present is kept as it is;
- an adapter version whose folder name is taken by another key is given the next free number;
  the ``current`` pointer then names it (an existing different pointer needs ``--force``);
- the replay corpus is written when the store has none for that adapter (``--force``: replaced).

The lock's keys do not depend on where the document lives, so after this ``dlm build`` finds
every packed target in the cache and trains nothing, and ``dlm prompt`` answers at once; the
targets a pack leaves out because they hold the base's weights (see ``contents``) are remade
from the local base, byte for byte.

A pack without its base is refused before anything is extracted when the base does not resolve
here. A pack with it (``base_included``) is not: once extracted and checked, its base is
fingerprinted against the lock (``PackError``, exit 4, when it is not the base the lock names)
and installed where the resolver finds it (``pack.base``), unless the base already resolves
here with the lock's fingerprints. If it resolves here to another base, that one wins (the
resolver looks at the HF cache and the embedded base first) and nothing is installed: the
message says ``dlm build`` will retrain on it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from dlmbuild.errors import DlmError, Location, UsageError
from dlmbuild.pack.archive import PackError, extract_pack, read_manifest
from dlmbuild.pack.base import BASE, FINGERPRINTS, fingerprint_problem, install_base
from dlmbuild.pack.contents import DOC, STORE


def check_manifest(pack: Path) -> dict:
    manifest = read_manifest(pack)
    if manifest.get("kind") != "dlm.pack" or not manifest.get("dlm_id") or not manifest.get("document"):
        raise UsageError(f"{pack.name} is not a dlm document pack (its manifest names no document)")
    return manifest


def check_base(manifest: dict, folder: Path, home: Path) -> None:
    """Refuse, before extracting, a pack whose base cannot be found on this machine: bad input
    for this command (exit 2), naming the base, how to provide it, and the pack that would not
    need it."""
    from dlmbuild.bases.resolve import resolve_base

    try:
        resolve_base(manifest["base_model"], folder, home=home, materialize=False)
    except DlmError as exc:
        raise UsageError(f"{exc.message}; or unpack a pack made with `dlm pack --include-base`") from None


def local_base(manifest: dict, folder: Path, home: Path) -> str | None:
    """For a pack that carries its base: "same" when the base resolves here with the lock's
    fingerprints, "other" when it resolves to another base, None when it does not resolve."""
    from dlmbuild.bases.resolve import resolve_base
    from dlmbuild.engine.target import InputsUnavailable

    try:
        base = resolve_base(manifest["base_model"], folder, home=home, materialize=False)
    except (DlmError, InputsUnavailable):
        return None
    here = {"weights": base.weights_hash, "tokenizer": base.tokenizer_hash, "chat_template": base.chat_template_hash}
    locked = manifest.get("base") or {}
    return "same" if all(here[name] == locked.get(name) for name in FINGERPRINTS) else "other"


def unpack(pack: Path, dest: Path, *, home: Path, force: bool = False) -> tuple[Path, dict, tuple[str, Path | None] | None]:
    """Restore ``pack`` into ``dest`` and the store under ``home``; returns the document's path,
    the pack's manifest and, for a pack that carries its base, what became of that base:
    ``("installed", folder)``, ``("same", None)`` (it resolves here already) or ``("other", None)``
    (another base of that key resolves here and wins)."""
    manifest = check_manifest(pack)
    if dest.exists() and not dest.is_dir():
        raise UsageError(f"{dest} exists and is not a folder")
    if dest.is_dir() and any(dest.iterdir()) and not force:
        raise UsageError(f"{dest} is not empty; pass --force to unpack into it")
    carried = manifest.get("base_included") is True
    where = dest  # the document lands in dest: a relative base_model is resolved from there
    here = None
    if carried:
        here = local_base(manifest, where, home)
    else:
        check_base(manifest, where, home)
    store = home / "store" / manifest["dlm_id"]
    if not force:
        _refuse_other_current(manifest, store)
    dest.mkdir(parents=True, exist_ok=True)
    base_state = None
    with tempfile.TemporaryDirectory(prefix=".dlm-unpack-", dir=dest) as scratch:
        unpacked = Path(scratch) / "pack"
        extract_pack(pack, unpacked)
        if carried:
            base_state = _settle_base(pack, unpacked, manifest, home, here)
        _restore_store(unpacked / STORE, store, force)
        _move_tree(unpacked / DOC, dest)
    return dest / manifest["document"], manifest, base_state


def _settle_base(pack: Path, unpacked: Path, manifest: dict, home: Path, here: str | None) -> tuple[str, Path | None]:
    """Check the packed base against the packed lock, then install it unless this machine
    already resolves the base; what happened (see ``unpack``)."""
    from dlmbuild.engine.lockfile import read_locks

    lock = read_locks(unpacked / DOC / "dlm.lock").get(manifest["document"])
    locked = lock.base if lock is not None else {}
    key = manifest.get("base_model")
    if locked != manifest.get("base") or locked.get("key") != key:
        raise PackError(f"its dlm.lock does not name the base its manifest does ({key})", Location(pack))
    if not (unpacked / BASE).is_dir():
        raise PackError("its manifest says it carries its base but it holds no base/ files", Location(pack))
    problem = fingerprint_problem(unpacked / BASE, locked)
    if problem:
        raise PackError(problem, Location(pack))
    if here is not None:
        return here, None
    return "installed", install_base(unpacked / BASE, locked, home)


def _refuse_other_current(manifest: dict, store: Path) -> None:
    for name in manifest.get("adapters", []):
        pointer = store / "adapters" / name / "current"
        if pointer.is_file():
            raise UsageError(f"the store already holds adapter '{name}' of this document ({pointer.read_text().strip()}); "
                             f"pass --force to make the pack's version current")


def _move_tree(src: Path, dest: Path) -> None:
    for path in sorted(src.rglob("*")):
        if path.is_file():
            target = dest / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)


def _restore_store(src: Path, store: Path, force: bool) -> None:
    if not src.is_dir():
        return
    actions = src / "actions"
    if actions.is_dir():
        for entry in sorted(p for p in actions.glob("*/*") if p.is_dir()):
            target = store / "actions" / entry.parent.name / entry.name
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(entry, target)
    for adapter in sorted(p for p in (src / "adapters").glob("*") if p.is_dir()):
        _restore_adapter(adapter, store / "adapters" / adapter.name)
    for corpus in sorted((src / "replay").glob("*.jsonl")):
        target = store / "replay" / corpus.name
        if force or not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(corpus, target)


def _restore_adapter(src: Path, dest: Path) -> None:
    """The pack's current version under a free (or its own) number, then the pointer."""
    from dlmbuild.store.atomic import atomic_write_text
    from dlmbuild.store.versions import KEY_FILE, AdapterVersions

    version = next(p for p in sorted((src / "versions").iterdir()) if p.is_dir())
    key = json.loads((version / KEY_FILE).read_text(encoding="utf-8")).get("key")
    versions = AdapterVersions(dest.parent, dest.name)
    same = next((v for v in versions.all() if v.key == key), None)
    if same is None:
        number = max((v.number for v in versions.all()), default=0) + 1
        label = version.name if not (versions.versions / version.name).exists() else f"v{number:04d}"
        versions.versions.mkdir(parents=True, exist_ok=True)
        shutil.move(str(version), str(versions.versions / label))
    else:
        label = same.label
    atomic_write_text(versions.pointer, label + "\n")
