"""Pieces the build-type commands share: opening a project, its graph and engine, printing."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from dlmbuild.engine.actioncache import ActionCache
from dlmbuild.engine.executor import Engine, TargetResult
from dlmbuild.engine.graph import Graph
from dlmbuild.engine.lockfile import Lock, LockedTarget
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


def lock_from(project: Project, graph: Graph, results: list[TargetResult], previous: Lock | None) -> Lock:
    """The document's lock entry after a build: entries of targets built or found cached in this
    build are replaced; entries of targets this build did not reach are kept as they were."""
    from dlmbuild import __version__
    from dlmbuild.rules.support import package_version

    lock = Lock(project.doc.config.dlm_id)
    if previous is not None:
        lock.base = dict(previous.base)
        lock.targets = {n: t for n, t in previous.targets.items() if n in graph.targets}
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
    for result in results:
        if result.status in ("built", "cached") and result.key and result.output_hash:
            rule = graph.targets[result.name].rule_id
            lock.targets[result.name] = LockedTarget(rule, result.key, result.output_hash, dict(result.files))
    lock.toolchain = {"python": ".".join(map(str, sys.version_info[:3])), "dlmbuild": __version__}
    for name in ("transformers", "tokenizers", "torch", "peft"):
        version = package_version(name)
        if version != "absent":
            lock.toolchain[name] = version
    return lock
