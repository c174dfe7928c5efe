"""``dlm build DOC [:target ...]``: bring targets up to date, reusing everything cached.

The default target is ``:train`` (every adapter). A request that needs a target this dlm cannot
build (``:pack`` for now) is refused before anything is built, one line per target, exit code
2. ``--remote NAME`` (or ``cache.remote`` in the user config) consults a shared action cache
before running any target, and ``--remote-upload`` sends what this build made (see
dlmbuild/remote). ``--watch`` keeps rebuilding as the document, its sources and ignore files change,
with every other option applied to each rebuild (see cli/watch.py).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import typer

from dlmbuild.cli.common import lock_from, make_engine, open_project, print_result
from dlmbuild.engine.lockfile import lock_path, write_lock
from dlmbuild.rules.lock_view import lock_here
from dlmbuild.engine.mutex import store_lock
from dlmbuild.errors import EXIT_BUILD_FAILED, DlmError
from dlmbuild.rules import DEFAULT_TARGET


def build(
    doc: Path = typer.Argument(..., help="The .dlm document."),
    targets: list[str] = typer.Argument(None, help="Targets such as :tokenize, :train, :train-NAME (default :train)."),
    dry_run: bool = typer.Option(False, "--dry-run", "-n", help="Say what would be built; build nothing."),
    explain: bool = typer.Option(False, "--explain", help="For every target that runs, say which input changed."),
    jobs: int = typer.Option(2, "--jobs", "-j", min=1, max=64, help="Cheap targets to run in parallel."),
    keep_going: bool = typer.Option(False, "--keep-going", "-k", help="Keep building independent targets after a failure."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per target."),
    frozen: bool = typer.Option(False, "--frozen", help="Fail if the build would change dlm.lock."),
    no_wait: bool = typer.Option(False, "--no-wait", help="Fail at once if another build holds the store."),
    watch: bool = typer.Option(False, "--watch", help="Rebuild whenever the document or its sources change."),
    no_replay: bool = typer.Option(False, "--no-replay", help="Train on the document as it is now, without replaying earlier section versions."),
    gpus: int = typer.Option(1, "--gpus", min=1, max=64, help="Train each adapter data-parallel on N CUDA devices (accelerate launch)."),
    remote: str = typer.Option(None, "--remote", metavar="NAME", help="Fetch targets a shared cache already has (default: cache.remote)."),
    remote_upload: bool = typer.Option(None, "--remote-upload/--no-remote-upload", help="Upload what this build makes to the remote (default: cache.upload)."),
    no_remote: bool = typer.Option(False, "--no-remote", help="Ignore cache.remote: build from the local cache only."),
) -> None:
    """Build targets of a document."""
    if no_remote and (remote or remote_upload):
        raise DlmError("--no-remote cannot be combined with --remote or --remote-upload", exit_code=2)
    options = dict(dry_run=dry_run, explain=explain, jobs=jobs, keep_going=keep_going, as_json=as_json, frozen=frozen,
                   no_wait=no_wait, replay=not no_replay, gpus=gpus,
                   remote=False if no_remote else remote, remote_upload=remote_upload)
    if watch:
        from dlmbuild.cli.watch import watch_build

        watch_build(doc, targets or [], **options)
        return
    code = run_build(doc, targets or [], **options)
    if code:
        raise typer.Exit(code)


def run_build(doc: Path, targets: list[str], *, dry_run: bool = False, explain: bool = False, jobs: int = 2,
              keep_going: bool = False, as_json: bool = False, frozen: bool = False, no_wait: bool = False,
              home: Path | None = None, quiet: bool = False, cancel=None, replay: bool = True, gpus: int = 1,
              options: dict | None = None, json_line: bool = False, collect: dict | None = None,
              remote: str | bool | None = False, remote_upload: bool | None = None) -> int:
    """Build ``targets`` and return the exit code; ``options`` are extra flags rules read
    (export: quant, adapter, out...). ``collect``, when given, receives each built or cached
    target's output folder by name (how ``dlm serve`` finds the GGUFs it serves). ``cancel`` (a threading.Event) stops the build as Ctrl-C
    does (``--watch`` sets it when a change arrives). ``remote`` names the shared cache to
    consult (None: ``cache.remote`` from the user config; False: none, the default for callers
    other than ``dlm build``). With ``as_json``, ``json_line`` prints the
    results on one line instead of indented (one line per build under ``--watch --json``)."""
    started_ns = time.time_ns()
    project, graph = open_project(doc, home, materialize_base=not dry_run,
                                  options={"replay": replay, "quiet": quiet or as_json, "gpus": gpus, **(options or {})})
    requested = graph.resolve(targets or [DEFAULT_TARGET])
    show = (lambda r: None) if (as_json or quiet) else (lambda r: print_result(r, explain or dry_run))
    engine = make_engine(project, graph, quiet=quiet or as_json, on_result=show)
    if remote is not False:
        engine.remote = _shared_cache(remote, remote_upload, project, quiet=quiet or as_json)
    if dry_run:
        results = engine.run(requested, jobs=jobs, dry_run=True, explain=True)
    else:
        notify = (lambda m: print(f"dlm: {m}", file=sys.stderr, flush=True))
        with store_lock(project.layout.root, wait=not no_wait, notify=notify):
            results = engine.run(requested, jobs=jobs, keep_going=keep_going, explain=explain, cancel=cancel)
            previous = lock_here(project)
            lock, notes = lock_from(project, graph, results, previous)
            if frozen:
                _check_frozen(project.doc.path, previous, lock)
            elif not any(r.status == "failed" for r in results):
                write_lock(project.doc.path, lock, project.layout.home)
                for note in notes:
                    print(f"dlm: {note}", file=sys.stderr)
                # Only a plain build's result may answer a later plain build: --no-replay and
                # --gpus make other adapters, and their stamps would share its key.
                if replay and gpus == 1 and not options and all(r.status in ("built", "cached") for r in results):
                    _stamp(project, targets, results, started_ns)
    if engine.remote is not None and not (quiet or as_json) and (engine.remote.fetched or engine.remote.uploaded):
        print(f"dlm: remote {engine.remote.name}: fetched {len(engine.remote.fetched)} target(s), "
              f"uploaded {len(engine.remote.uploaded)}", file=sys.stderr)
    if collect is not None:
        collect.update({r.name: r.out_dir for r in results if r.out_dir is not None and r.status in ("built", "cached")})
    if as_json:
        typer.echo(json.dumps([r.as_json() for r in results], indent=None if json_line else 1))
    failed = [r for r in results if r.status == "failed"]
    if failed and not as_json and not quiet:
        print(f"dlm: {len(failed)} target(s) failed", file=sys.stderr)
    return EXIT_BUILD_FAILED if failed else 0


def _shared_cache(name: str | None, upload: bool | None, project, *, quiet: bool):
    """The remote cache this build consults, or None; a remote that does not answer costs one
    warning line and the build goes on locally."""
    from dlmbuild.remote.session import build_remote

    warn = (lambda m: None) if quiet else (lambda m: print(f"dlm: {m}", file=sys.stderr, flush=True))
    return build_remote(name, upload, project.doc.config.base_model, warn, project.layout.home)


def _stamp(project, targets: list[str], results, started_ns: int) -> None:
    """Record what this build depended on, so an identical next build can stop at a stat check."""
    from dlmbuild.document.sources import PATH, SIGNATURE
    from dlmbuild.engine.stamp import write_stamp

    paths = [str(project.doc.path)]
    known = {}
    if project.doc.config.training.sources:
        sources = project.sources
        known = dict(zip(map(PATH, sources.files), map(SIGNATURE, sources.files)))
        paths += [str(p) for p in sources.watch_paths] + sources.folders
    base = project.resolved_base
    if base is not None:
        folder = Path(base.path)
        paths += [str(folder)] + [str(p) for p in sorted(folder.iterdir())]
    own = [str(lock_path(project.doc.path))]
    own += [str(project.layout.adapters / name / "current") for name in project.doc.config.training.adapter_names]
    own += [str(project.layout.replay / f"{name}.jsonl") for name in project.doc.config.training.adapter_names]
    # an installed export removed or edited by hand must be reinstalled, so it is part of the stamp
    own += [str(project.layout.exports / r.name.removeprefix(":export-") / ".dlm-export.json")
            for r in results if r.name.startswith(":export-")]
    outputs = [str(r.out_dir) for r in results if r.out_dir is not None]
    lines = [f"  cached  {r.name}" for r in results]
    write_stamp(project.layout.home, project.doc.path, targets, paths, own, outputs, lines, started_ns, known)


def _check_frozen(doc_path: Path, previous, lock) -> None:
    if previous is None:
        raise DlmError(f"--frozen: {lock_path(doc_path)} has no entry for {doc_path.name}; run `dlm build` without --frozen")
    for name, entry in lock.targets.items():
        old = previous.targets.get(name)
        if old is None or (old.key, old.output) != (entry.key, entry.output):
            raise DlmError(f"--frozen: {name} does not match {lock_path(doc_path).name} (the build would change the lock)")
    if previous.base and lock.base and previous.base != lock.base:
        raise DlmError(f"--frozen: the resolved base differs from {lock_path(doc_path).name}")
