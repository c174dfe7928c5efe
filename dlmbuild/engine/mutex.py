"""One build per store at a time.

The lock is an ``flock`` (through the filelock package, which handles the platform details),
so the kernel releases it when its holder dies: a lock left by a dead process cannot block
anyone, and there is no stale lock file to clean. The holder's pid and command are written
beside it so a waiting build can say whom it waits for.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from dlmbuild.errors import EnvironmentProblem


@contextlib.contextmanager
def store_lock(store_dir: Path, *, wait: bool = True, notify: Callable[[str], None] = lambda m: None) -> Iterator[None]:
    """Hold the store's build lock: one build per store at a time. An flock, so the kernel
    releases it when its holder dies; a second build waits (saying who holds it) or, with
    ``wait=False``, fails at once."""
    try:
        store_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EnvironmentProblem(f"cannot create store {store_dir}: {exc.strerror}") from None
    lock = FileLock(str(store_dir / "build.lock"))
    owner = store_dir / "build.owner"
    try:
        lock.acquire(timeout=0)
    except Timeout:
        holder = _read_owner(owner)
        if not wait:
            raise EnvironmentProblem(f"another build holds the store lock ({holder}); run again when it ends, or drop --no-wait") from None
        notify(f"waiting for another build to finish ({holder}) ...")
        lock.acquire()
    except OSError as exc:
        raise EnvironmentProblem(f"cannot lock store {store_dir}: {exc.strerror}") from None
    try:
        with contextlib.suppress(OSError):
            owner.write_text(f"pid {os.getpid()}: {' '.join(sys.argv[:3])}")
        yield
    finally:
        with contextlib.suppress(OSError):
            owner.unlink()
        lock.release()


def _read_owner(path: Path) -> str:
    try:
        return path.read_text().strip() or "unknown process"
    except OSError:
        return "unknown process"
