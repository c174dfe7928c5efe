"""Pieces the build-type commands share: opening a project, its graph and engine, printing."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from dlmbuild.engine.actioncache import ActionCache
from dlmbuild.engine.executor import Engine, TargetResult
from dlmbuild.engine.graph import Graph
from dlmbuild.engine.lockfile import LOCK_VERSION, ClassGoldens, Lock, LockedTarget, lock_path
from dlmbuild.engine.state import BuildState
from dlmbuild.project import Project

STATUS_MARK = {"built": "built ", "cached": "cached", "dirty": "dirty ", "unavailable": "n/a   ", "failed": "FAILED",
               "skipped": "skip  "}


def open_project(doc: Path, home: Path | None = None, *, materialize_base: bool = False,
                 options: dict | None = None) -> tuple[Project, Graph]:
    """Parse ``doc``, open its store under ``home`` (default ``$DLM_HOME``) and ask the rules
    for its target graph. Nothing is hashed or resolved yet: targets do that when they run."""
    from dlmbuild.rules import graph_for

    project = Project.open(doc, home, materialize_base=materialize_base, options=options)
    return project, graph_for(project)


def make_engine(project: Project, graph: Graph, *, quiet: bool = False, on_result=None) -> Engine:
    """An engine over the project's action cache and build state; its log goes to stderr unless
    ``quiet`` (``--json`` keeps stdout and stderr for machine-readable output)."""
    cache = ActionCache(project.layout.actions, project.filestate)
    state = BuildState.open(project.layout.targets_state)
    log = (lambda message: None) if quiet else (lambda message: print(message, file=sys.stderr, flush=True))
    engine = Engine(graph, cache, state, project, log=log)
    if on_result is not None:
        engine.on_result = on_result
    return engine


def print_result(result: TargetResult, explain: bool) -> None:
    """One line per target (``  built   :tokenize  0.12s``; a cached one fetched from a shared
    cache says so), with the reasons under it when ``explain`` (dirty and built targets: which
    input moved; unavailable ones: why)."""
    mark = STATUS_MARK.get(result.status, result.status)
    line = f"  {mark}  {result.name}"
    if result.status == "built":
        line += f"  {result.seconds:.2f}s"
    if result.error:
        line += f"  {result.error}"
    if result.status == "cached" and result.reasons:  # where it came from: "fetched from remote team"
        line += f"  {'; '.join(result.reasons)}"
    typer.echo(line)
    if explain and result.reasons and result.status in ("built", "dirty", "unavailable"):
        for reason in result.reasons:
            typer.echo(f"            because {reason}")


def lock_from(project: Project, graph: Graph, results: list[TargetResult], previous: Lock | None) -> tuple[Lock, list[str]]:
    """The document's lock entry after a build, and notes for the user. Entries of targets built
    or found cached are replaced: shared ones in the shared table, machine-bound ones (and the
    adapters' probes) under this machine's class; entries this build did not reach are kept.
    Another class's goldens are kept while they were recorded from the same recipe (every
    target both classes hold has the same ``basis``); otherwise they are dropped, with a note,
    since they would verify nothing. A lock from an older dlm (no classes) starts afresh."""
    from dlmbuild import __version__
    from dlmbuild.rules.support import package_version
    from dlmbuild.train.machine_class import document_class
    from dlmbuild.train.probes import goldens, read_probes

    cls = document_class(project)
    lock = Lock(project.doc.config.dlm_id, here=cls.name)
    if previous is not None:
        lock.base = dict(previous.base)
        if previous.version == LOCK_VERSION:
            lock.shared = {n: t for n, t in previous.shared.items() if n in graph.targets}
            lock.classes = {name: ClassGoldens(dict(c.machine), dict(c.targets), dict(c.probes))
                            for name, c in previous.classes.items()}
    base = project.resolved_base
    if base is not None:
        lock.base = {
            "key": base.key,
            "source": base.source,
            "revision": base.revision,
            "weights": base.weights_hash,
            "tokenizer": base.tokenizer_hash,
            "chat_template": base.chat_template_hash,
        }
    here = lock.classes.setdefault(cls.name, ClassGoldens())
    here.machine = cls.as_dict()
    here.targets = {n: t for n, t in here.targets.items() if n in graph.targets}
    for result in results:
        if result.status not in ("built", "cached") or not result.key or not result.output_hash:
            continue
        rule = graph.targets[result.name].rule_id
        if not result.machine_bound:
            lock.shared[result.name] = LockedTarget(rule, result.key, result.output_hash, dict(result.files))
            continue
        here.targets[result.name] = LockedTarget(rule, result.key, result.output_hash, dict(result.files), result.basis or "")
        lock.shared.pop(result.name, None)
        probes = read_probes(result.out_dir) if result.out_dir is not None else None
        if probes:
            here.probes[result.name] = goldens(probes)
        else:
            here.probes.pop(result.name, None)
    here.probes = {t: p for t, p in here.probes.items() if t in here.targets}
    if not here.targets:
        del lock.classes[cls.name]
    notes = []
    for name, other in sorted(lock.classes.items()):
        if name == cls.name:
            continue
        moved = [t for t, locked in sorted(other.targets.items())
                 if t not in graph.targets or (t in here.targets and here.targets[t].basis != locked.basis)]
        if moved:
            del lock.classes[name]
            notes.append(f"{lock_path(project.doc.path).name}: dropped the goldens of class {name} ({moved[0]} was recorded "
                         f"from another recipe); record them again on such a machine with `dlm verify --record`")
    lock.toolchain = {"python": ".".join(map(str, sys.version_info[:3])), "dlmbuild": __version__}
    for name in ("transformers", "tokenizers", "torch", "peft"):
        version = package_version(name)
        if version != "absent":
            lock.toolchain[name] = version
    return lock, notes
