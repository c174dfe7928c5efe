"""``dlm build --watch``: rebuild as the document, its sources, media and ignore files change.

Changes are debounced by watchfiles (Rust notify underneath: inotify here, FSEvents on macOS).
A build runs in a worker thread; a change that arrives while it runs cancels it through the
engine's cancel flag (actions poll it between steps, so a heavy target stops at a clean point
and leaves nothing half-written), then the build restarts on the new inputs. Our own writes
(``dlm.lock``, temp files) are ignored so the loop does not feed itself.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

IGNORED_NAMES = ("dlm.lock",)


def relevant(path: str, watched: list[Path]) -> bool:
    p = Path(path)
    if p.name in IGNORED_NAMES or p.name.endswith(".tmp") or "/.git/" in path or p.name.startswith(".#"):
        return False
    return any(p == w or w in p.parents for w in watched)


def watch_build(doc: Path, targets: list[str], *, jobs: int = 2, explain: bool = False, max_builds: int | None = None,
                stop: threading.Event | None = None, home: Path | None = None, debounce_ms: int = 300) -> int:
    """Build, then rebuild on every relevant change until Ctrl-C (or ``stop``/``max_builds``).
    Returns the number of builds started."""
    import watchfiles

    from dlmbuild.cli.build import run_build
    from dlmbuild.errors import DlmError

    stop = stop or threading.Event()
    builds = 0
    cancel = threading.Event()
    worker: threading.Thread | None = None

    def one_build() -> None:
        try:
            run_build(doc, targets, jobs=jobs, explain=explain, home=home, cancel=cancel)
        except DlmError as exc:  # a broken edit: report it and wait for the next one
            print(str(exc), file=sys.stderr, flush=True)
        except KeyboardInterrupt:
            print("dlm: build cancelled by a change; restarting", file=sys.stderr, flush=True)

    def start() -> None:
        nonlocal worker, builds
        cancel.clear()
        builds += 1
        worker = threading.Thread(target=one_build, name="dlm-watch-build", daemon=True)
        worker.start()

    def watched_paths() -> list[Path]:
        try:
            from dlmbuild.cli.common import open_project

            project, _ = open_project(doc, home)
            paths = [Path(p).resolve() for p in project.watch_paths()]
            paths += [(doc.parent / dict(s.attrs)["path"]).resolve() for s in project.doc.sections if s.attrs and "path" in dict(s.attrs)]
            return paths
        except DlmError:
            return [doc.resolve()]

    start()
    watched = watched_paths()
    print(f"dlm: watching {doc} ({len(watched)} path(s)); Ctrl-C to stop", file=sys.stderr, flush=True)
    try:
        for changes in watchfiles.watch(doc.parent.resolve(), *[w for w in watched if w.is_dir()], debounce=debounce_ms,
                                        stop_event=stop, rust_timeout=500, yield_on_timeout=False):
            if not any(relevant(path, watched) for _, path in changes):  # ignore files live under source roots
                continue
            if worker is not None and worker.is_alive():
                cancel.set()
                worker.join()
            if max_builds is not None and builds >= max_builds:
                break
            start()
            watched = watched_paths()
    except KeyboardInterrupt:
        cancel.set()
    if worker is not None:
        worker.join()
    return builds
