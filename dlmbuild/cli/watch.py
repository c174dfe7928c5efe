"""``dlm build --watch`` (and ``dlm train --watch``): rebuild as the document and what it reads change.

Watched: the document, its source roots (``training.sources``) and the media files its sections
name, asked again after every start (``Project.watch_paths``). The loop itself, with its
cancel-and-restart, is the engine's generic ``rerun_on_change``; this module only says what a
build reads and what one build is.

Every option of ``dlm build`` applies to each rebuild: ``--dry-run``, ``--explain``, ``-j``,
``--keep-going``, ``--frozen`` (each rebuild fails if it would change ``dlm.lock``),
``--no-wait``, ``--no-replay`` and ``--gpus``. ``--json`` prints one line per finished build: the
array ``dlm build --json`` prints, unindented; a build cancelled by a change prints nothing to
stdout. A broken edit prints its one-line error and the loop waits for the next edit.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path


def watch_build(doc: Path, targets: list[str], *, home: Path | None = None, stop: threading.Event | None = None,
                max_builds: int | None = None, debounce_ms: int = 300, **build) -> int:
    """Build ``targets`` of ``doc``, then rebuild on every relevant change until Ctrl-C (or
    ``stop`` is set, or the change after the ``max_builds``-th build). ``build`` holds
    ``run_build``'s keyword options (``jobs``, ``explain``, ``dry_run``, ``keep_going``,
    ``as_json``, ``frozen``, ``no_wait``, ``replay``, ``gpus``, ``options``). Returns the number
    of builds started."""
    from dlmbuild.cli.build import run_build
    from dlmbuild.engine.watch import rerun_on_change
    from dlmbuild.errors import DlmError

    as_json = build.get("as_json", False)

    def one_build(cancel: threading.Event) -> None:
        try:
            run_build(doc, targets, home=home, cancel=cancel, json_line=as_json, **build)
        except DlmError as exc:  # a broken edit: report it and wait for the next one
            print(f"dlm: {exc}" if exc.location is None else str(exc), file=sys.stderr, flush=True)
        except KeyboardInterrupt:
            print("dlm: build cancelled", file=sys.stderr, flush=True)

    def restarting() -> None:
        print("dlm: change seen; stopping the running build to start again", file=sys.stderr, flush=True)

    print(f"dlm: watching {doc}; Ctrl-C to stop", file=sys.stderr, flush=True)
    return rerun_on_change(one_build, lambda: watched_paths(doc, home), stop=stop, max_runs=max_builds,
                           debounce_ms=debounce_ms, on_restart=restarting)


def watched_paths(doc: Path, home: Path | None = None) -> list[Path]:
    """What a build of ``doc`` reads from disk, as far as the document says; only the document
    itself while it does not parse (its next edit is what to wait for)."""
    from dlmbuild.errors import DlmError
    from dlmbuild.project import Project

    try:
        return Project.open(doc, home).watch_paths()
    except DlmError:
        return [Path(doc)]
