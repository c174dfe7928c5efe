"""Packing a built document: the library behind ``dlm pack``, so other commands (and remotes)
can write a pack without going through the CLI.

Every refusal is a ``UsageError`` with one line (exit 2): ``include_base`` for a base whose
licence dlm does not know to allow redistribution (checked first: it is about the flag, not the
build), a document never built, one edited since its last build (what the lock records is then
not what the document builds), a base that resolves here to something else than the lock
records, and the refusals of ``contents.pack_members`` (a source outside the document's folder,
an output gone from the store, an adapter never trained).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from dlmbuild.errors import UsageError


def pack_document(doc: Path, out: Path, *, include_exports: bool = False, include_base: bool = False) -> tuple[dict, int]:
    """Write ``doc``'s pack to ``out`` (atomically); the manifest written and the number of members."""
    from dlmbuild.engine.lockfile import render_locks
    from dlmbuild.pack.archive import write_pack
    from dlmbuild.pack.contents import pack_members, pack_meta
    from dlmbuild.project import Project

    if include_base:
        from dlmbuild.pack.base import licence_refusal

        refusal = licence_refusal(Project.open(doc).doc.config.base_model)
        if refusal:
            raise UsageError(refusal)
    from dlmbuild.rules.lock_view import lock_here

    project = Project.open(doc)
    lock = lock_here(project)
    if lock is None or not lock.targets:
        raise UsageError(f"nothing is built yet: run `dlm build {doc}` before packing")
    refuse_stale(doc, lock)
    if include_base:
        refuse_other_base(project, lock)
    with tempfile.TemporaryDirectory(prefix="dlm-pack-") as scratch:
        lock_file = Path(scratch) / "dlm.lock"
        lock_file.write_text(render_locks({doc.name: lock}), encoding="utf-8")
        members = pack_members(project, lock, lock_file, include_exports=include_exports, include_base=include_base)
        manifest = write_pack(out, members, pack_meta(project, lock, include_base=include_base))
    return manifest, len(members)


def refuse_stale(doc: Path, lock) -> None:
    """A pack carries what the lock records; when the document changed since, that is not what
    the document builds, so it is refused (a dry run: nothing is hashed twice or built). The
    engine is made here as ``cli.common.make_engine`` makes a quiet one: pack sits below cli."""
    from dlmbuild.engine.actioncache import ActionCache
    from dlmbuild.engine.executor import Engine
    from dlmbuild.engine.state import BuildState
    from dlmbuild.project import Project
    from dlmbuild.rules import graph_for

    project = Project.open(doc)
    graph = graph_for(project)
    engine = Engine(graph, ActionCache(project.layout.actions, project.filestate), BuildState.open(project.layout.targets_state),
                    project, log=lambda message: None)
    names = [n for n in sorted(lock.targets) if n in graph.targets]
    results = engine.run(names, dry_run=True)
    stale = [r.name for r in results if r.status != "cached" or (r.name in lock.targets and r.key != lock.targets[r.name].key)]
    if stale:
        raise UsageError(f"{doc.name} changed since its last build ({stale[0]} is out of date); run `dlm build {doc}` before packing")


def refuse_other_base(project, lock) -> None:
    """The base packed is the one resolved here; it must be the one the lock (and so every key
    packed) was built on. The stale check already implies it for the trained targets; this says
    it in terms of the base, and covers a lock whose targets do not all read the weights."""
    from dlmbuild.engine.target import InputsUnavailable
    from dlmbuild.errors import DlmError

    try:
        base = project.base()
    except (DlmError, InputsUnavailable) as exc:
        raise UsageError(f"--include-base: the base does not resolve here ({exc}); run `dlm build {project.doc.path}` first") from None
    here = {"weights": base.weights_hash, "tokenizer": base.tokenizer_hash, "chat_template": base.chat_template_hash}
    for name, value in here.items():
        if lock.base.get(name) != value:
            raise UsageError(f"--include-base: the base resolved here ({base.path}) has {name} hash {value[:16]}, not the "
                             f"{str(lock.base.get(name))[:16]} dlm.lock records; run `dlm build {project.doc.path}` before packing")
