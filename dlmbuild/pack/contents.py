"""What a document's ``.dlm.pack`` holds, as archive names mapped to local files.

- ``doc/<name>.dlm``, ``doc/dlm.lock`` (this document's entry only) and every selected source file at its path relative to
  the document's folder (as ingested: the files the lock's keys were computed from);
- ``store/actions/<kk>/<key>/…``: the action-cache entry of every target the lock records (its
  ``out/`` files and ``manifest.json``), so an unpacked store answers ``dlm build`` from cache;
- ``store/adapters/<name>/…``: each adapter's current version and its ``current`` pointer (what
  ``dlm prompt`` loads), and ``store/replay/<name>.jsonl`` (the history later training replays);
- with ``--include-exports``, ``store/exports/<kind>/…`` as installed.

By default the base's weights stay out, and so does every output that carries them
(``BASE_DERIVED``: the base as GGUF, merges and merged GGUFs, export bundles, and ``:gate``,
whose feature model is the base's first blocks): the manifest names the base by the lock's
identity and hashes, lists those targets as ``rebuilt``, and unpacking resolves the base locally
(the embedded base, a local path or the HF cache); the next build remakes them
deterministically, training nothing. With ``--include-base`` (a base whose licence allows it,
see ``pack.base``) the base goes in under ``base/`` and so do those targets' entries, since
what they carry may then travel too: ``rebuilt`` is empty and the unpacked build does nothing.
Nothing here reads a credential or an absolute path into the pack; timestamps are not recorded,
so the same store and document give the same bytes.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from dlmbuild.errors import UsageError

DOC = "doc"
STORE = "store"
# Rules whose outputs hold the base's weights (whole or in part): left out of a pack.
BASE_DERIVED = ("gguf_base", "merge", "gguf", "gate", "export_")


def base_derived(rule_id: str) -> bool:
    """Whether a locked target's output carries the base's weights (``rule@version``)."""
    rule = rule_id.split("@")[0]
    return rule in BASE_DERIVED or rule.startswith("export_")


def _tree(root: Path, prefix: str) -> dict[str, Path]:
    """Every regular file under ``root`` as ``prefix/<relative path>``."""
    return {f"{prefix}/{p.relative_to(root).as_posix()}": p for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()}


def pack_members(project, lock, lock_file: Path, *, include_exports: bool = False, include_base: bool = False) -> dict[str, Path]:
    """The archive names and local files of ``project``'s pack, checked: a locked target whose
    entry is gone from the store, or a source outside the document's folder, is refused.
    ``lock_file`` holds this document's lock entry alone (a folder's dlm.lock serves several).
    ``include_base``: the resolved base's files too (the caller checked its licence and that it
    is the base the lock records), and the entries of the targets that carry it."""
    from dlmbuild.store.versions import AdapterVersions

    doc = project.doc.path
    layout = project.layout
    members = {f"{DOC}/{doc.name}": doc, f"{DOC}/dlm.lock": lock_file}
    if project.doc.config.training.sources:
        for file in project.sources.files:
            rel = PurePosixPath(file.relpath)
            if rel.is_absolute() or ".." in rel.parts:
                raise UsageError(f"source file {file.relpath} lies outside {doc.parent}; a pack carries only files "
                                 f"inside the document's folder (move the source, or point training.sources inside it)")
            members[f"{DOC}/{rel.as_posix()}"] = file.path
    for name, target in sorted(lock.targets.items()):
        if base_derived(target.rule) and not include_base:
            continue
        entry = layout.actions / target.key[:2] / target.key
        if not (entry / "manifest.json").is_file():
            raise UsageError(f"{name}'s output (key {target.key[:12]}) is not in the store; run `dlm build {doc}` before packing")
        members.update(_tree(entry, f"{STORE}/actions/{target.key[:2]}/{target.key}"))
    for name in project.doc.config.training.adapter_names:
        versions = AdapterVersions(layout.adapters, name)
        current = versions.current()
        if current is None:
            raise UsageError(f"adapter '{name}' has not been trained yet; run `dlm build {doc}` before packing")
        members.update(_tree(current.path, f"{STORE}/adapters/{name}/versions/{current.path.name}"))
        members[f"{STORE}/adapters/{name}/current"] = versions.pointer
        replay = layout.replay / f"{name}.jsonl"
        if replay.is_file():
            members[f"{STORE}/replay/{name}.jsonl"] = replay
    if include_exports and layout.exports.is_dir():
        members.update(_tree(layout.exports, f"{STORE}/exports"))
    if include_base:
        from dlmbuild.pack.base import base_files

        members.update(base_files(project.base().path))
    return members


def pack_meta(project, lock, *, include_base: bool = False) -> dict:
    """What the manifest says besides its members: whose pack this is and which base it needs
    (``base_included``, only when the base is in it: a pack without it keeps its old bytes)."""
    from dlmbuild import __version__

    meta = {"kind": "dlm.pack", "dlm_id": project.doc.config.dlm_id, "document": project.doc.path.name,
            "base_model": project.doc.config.base_model, "base": dict(sorted(lock.base.items())),
            "adapters": project.doc.config.training.adapter_names, "dlm": __version__,
            # whose machine-bound outputs it carries: the lock's view that verifying it takes
            "machine_class": lock.here,
            "rebuilt": [] if include_base else sorted(name for name, t in lock.targets.items() if base_derived(t.rule))}
    if include_base:
        meta["base_included"] = True
    return meta
