"""Run a job again whenever the files it reads change: the loop under ``dlm build --watch``.

The job runs in a worker thread and is handed a cancel flag. Changes are debounced by
watchfiles (Rust notify underneath: inotify here, FSEvents on macOS). A relevant change that
arrives while the job runs sets its flag and waits for it to stop (the engine's actions poll the
flag between steps, so a heavy target stops at a clean point and leaves nothing half-written),
then starts the job again on the new inputs. dlm's own writes (``dlm.lock``, temp files) and
editor or VCS bookkeeping are not relevant, so the loop does not feed itself.

The first run starts only once the OS watches are in place, so no change made after the job
began reading can be missed. What to watch is asked again after every start (an edit may add a
source folder); when the folders to watch change, the watches are set up again.

This module knows nothing about documents: ``cli/watch.py`` says what a build reads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

IGNORED_NAMES = ("dlm.lock",)
# How often the OS watcher returns without a change: the first return tells that the watches
# are in place; later ones are ignored.
POLL_MS = 100


def relevant(path: str, watched: list[Path]) -> bool:
    """Whether a change at ``path`` can change the job's result: it is one of ``watched`` or
    lies under one, and is not dlm's own bookkeeping, a temp file, ``.git`` or an editor lock."""
    p = Path(path)
    if p.name in IGNORED_NAMES or p.name.endswith(".tmp") or "/.git/" in path or p.name.startswith(".#"):
        return False
    return any(p == w or w in p.parents for w in watched)


def watch_roots(watched: list[Path]) -> list[Path]:
    """The folders to hand to the OS watcher: each watched folder, and the folder of each watched
    file (an editor that saves by renaming a new file over the old one replaces the inode a
    watch on the file itself would follow)."""
    roots = {w if w.is_dir() else w.parent for w in watched}
    return sorted(r for r in roots if r.is_dir())


def rerun_on_change(job: Callable[[threading.Event], None], watched: Callable[[], list[Path]], *,
                    stop: threading.Event | None = None, max_runs: int | None = None, debounce_ms: int = 300,
                    on_restart: Callable[[], None] = lambda: None) -> int:
    """Run ``job(cancel)``, then again after every relevant change under ``watched()``, until
    ``stop`` is set, Ctrl-C, or the change after the ``max_runs``-th start. A change during a run
    sets that run's ``cancel`` (after calling ``on_restart``) and waits for the job to return.
    Returns the number of runs started; the last one is waited for, not cancelled, on ``stop``."""
    import watchfiles

    stop = stop or threading.Event()
    cancel = threading.Event()
    worker: threading.Thread | None = None
    runs = 0

    def start() -> list[Path]:
        nonlocal worker, runs
        cancel.clear()
        runs += 1
        worker = threading.Thread(target=job, args=(cancel,), name="dlm-watch-run", daemon=True)
        worker.start()
        return [Path(p).resolve() for p in watched()]

    paths = [Path(p).resolve() for p in watched()]
    try:
        while not stop.is_set():
            roots = watch_roots(paths)
            for changes in watchfiles.watch(*roots, debounce=debounce_ms, stop_event=stop, rust_timeout=POLL_MS,
                                            yield_on_timeout=True):
                if runs == 0:  # the watches are in place: from here on no change is missed
                    paths = start()
                elif any(relevant(path, paths) for _, path in changes):
                    if worker is not None and worker.is_alive():
                        on_restart()
                        cancel.set()
                        worker.join()
                    if max_runs is not None and runs >= max_runs:
                        return runs
                    paths = start()
                else:
                    continue
                if watch_roots(paths) != roots:
                    break  # watch the new set of folders
    except KeyboardInterrupt:
        cancel.set()
    finally:
        if worker is not None:
            worker.join()
    return runs
