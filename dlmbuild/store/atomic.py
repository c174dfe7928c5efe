"""Atomic writes: a crash or Ctrl-C never leaves a half-written file or folder visible.

Write to a temporary sibling, fsync it, rename it over the target, fsync the folder. A rename
within one filesystem is atomic on POSIX, so readers see the old version or the new one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from dlmbuild.errors import EnvironmentProblem, Location


def current_umask() -> int:
    """The process umask, read from /proc where it can be (setting and restoring it, the only
    portable way, would briefly change it for every other thread)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, durable: bool = True, mode: int | None = None) -> None:
    """Replace ``path`` with ``data`` in one step.

    ``durable=False`` skips the two fsyncs, for caches whose loss costs only time (the
    file-state cache, the build state behind --explain, the no-op stamp): the rename still makes
    the switch atomic for readers, but after a power cut the file may be the old one or empty,
    which their readers treat as absent. Outputs, locks and documents are always durable.

    ``mode`` sets the file's permission bits; without it a replaced file keeps its mode and a
    new one gets what ``open()`` would have given it (0o666 less the umask), not the temporary
    file's 0o600: a ``dlm.lock`` or a new document is meant to be committed and shared."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _disk_error(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        elif path.exists():
            with contextlib.suppress(OSError):
                os.chmod(tmp, path.stat().st_mode & 0o7777)
        else:
            os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
        if durable:
            fsync_dir(path.parent)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise _disk_error(path, exc) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str, *, mode: int | None = None) -> None:
    """``atomic_write_bytes`` of ``text`` as UTF-8, written as is (no newline translation)."""
    atomic_write_bytes(path, text.encode("utf-8"), mode=mode)


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces ``path`` whole, on failure it vanishes."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    except OSError as exc:
        raise _disk_error(path, exc) from None
    old = None
    try:
        yield tmp
        for root, _dirs, files in os.walk(tmp):
            for name in files:
                with open(os.path.join(root, name), "rb") as handle:
                    os.fsync(handle.fileno())
        if path.exists():
            old = path.with_name(f".{path.name}.old.{os.getpid()}")
            os.replace(path, old)
        os.replace(tmp, path)
        fsync_dir(path.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and not path.exists():
            with contextlib.suppress(OSError):
                os.replace(old, path)  # put the previous version back
        raise _disk_error(path, exc) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def fsync_dir(path: Path) -> None:
    """Make a rename inside ``path`` survive a power cut (best effort: some filesystems refuse)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _disk_error(path: Path, exc: OSError) -> EnvironmentProblem:
    reason = {28: "disk full", 30: "read-only file system", 13: "permission denied"}.get(exc.errno or 0, exc.strerror or str(exc))
    return EnvironmentProblem(f"cannot write: {reason}", Location(path))
