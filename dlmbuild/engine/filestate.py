"""The file-state cache: content hashes remembered by (device, inode, size, mtime_ns).

Like git's index or DVC's state db, a no-op build stats files and hashes none. A rename keeps
the inode but changes the path, so entries are keyed by path and validated by the full stat
tuple; ``touch`` without a change moves mtime, which costs one re-hash and finds the same
content. A file modified within the same clock tick as it was hashed would look unchanged
("racily clean" in git's terms): the kernel stamps mtimes from a coarse clock that can lag by a
few milliseconds, so a hash is only remembered when the file's mtime is at least ``RACY_NS``
older than the moment of hashing; any later write then necessarily moves the mtime.
"""

from __future__ import annotations

import os
import pickle
import time
from pathlib import Path

from dlmbuild.engine.hashing import hash_file
from dlmbuild.store.atomic import atomic_write_bytes

RACY_NS = 100_000_000

StatKey = tuple[int, int, int, int]


def stat_key(st: os.stat_result) -> StatKey:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _file_signature(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


class FileStateCache:
    """Path -> (stat key, content hash), persisted as one pickle under the store."""

    # One loaded cache per state file and process, reused while the file on disk is the one it
    # last read or wrote (saves are atomic renames, so another process's save changes the inode).
    # A resident process (dlm server, --watch) then skips unpickling 10,000 entries per build.
    _open: dict[str, tuple[tuple[int, int, int], FileStateCache]] = {}

    @classmethod
    def open(cls, path: Path) -> FileStateCache:
        sig = _file_signature(path)
        held = cls._open.get(str(path))
        if sig is not None and held is not None and held[0] == sig:
            cache = held[1]
        else:
            cache = cls(path)
            if sig is not None:
                cls._open[str(path)] = (sig, cache)
        cache.hashed = 0
        return cache

    def __init__(self, path: Path | None):
        self.path = path
        self._entries: dict[str, tuple[StatKey, str]] = {}
        self._dirty = False
        self.hashed = 0  # files actually read this run (for tests and --explain)
        if path is not None and path.exists():
            try:
                self._entries = pickle.loads(path.read_bytes())
            except Exception:  # a corrupt state file only costs re-hashing
                self._entries = {}

    def hash(self, path: str | Path, st: os.stat_result | None = None) -> str:
        """The content hash of ``path``, from the cache when its stat is unchanged."""
        key_path = os.fspath(path)
        return self.hash_known(key_path, stat_key(st or os.stat(key_path)))

    def hash_known(self, path: str, key: StatKey) -> str:
        """Like ``hash`` with the stat key a directory walk already took (one stat per file,
        not two). Content changed after that stat is hashed under the old key, which the next
        build's stat cannot match, so it is hashed again then."""
        entry = self._entries.get(path)
        if entry is not None and entry[0] == key:
            return entry[1]
        digest = hash_file(path)
        self.hashed += 1
        if time.time_ns() - key[3] > RACY_NS:
            self._entries[path] = (key, digest)
            self._dirty = True
        return digest

    def remember(self, path: str | Path, digest: str) -> None:
        """Record a hash computed elsewhere (an output we just wrote)."""
        key_path = os.fspath(path)
        st = os.stat(key_path)
        if time.time_ns() - st.st_mtime_ns > RACY_NS:
            self._entries[key_path] = (stat_key(st), digest)
            self._dirty = True

    def save(self) -> None:
        if self._dirty and self.path is not None:
            atomic_write_bytes(self.path, pickle.dumps(self._entries, protocol=pickle.HIGHEST_PROTOCOL))
            self._dirty = False
            sig = _file_signature(self.path)
            if sig is not None:
                FileStateCache._open[str(self.path)] = (sig, self)
