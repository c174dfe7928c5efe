"""The file-state cache: content hashes remembered by stat signature (``util/filesig.py``).

Like git's index or DVC's state db, a no-op build stats files and hashes none. A rename keeps
the inode but changes the path, so entries are keyed by path and validated by the full
signature; ``touch`` without a change moves mtime, which costs one re-hash and finds the same
content. A file modified within the same clock tick as it was hashed would look unchanged
("racily clean" in git's terms), so a hash is only remembered when the signature is older than
the racy window (``filesig.racy``); any later write then necessarily moves the mtime.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

from dlmbuild.engine.hashing import hash_file
from dlmbuild.store.atomic import atomic_write_bytes
from dlmbuild.util.filesig import Signature, racy, signature, signature_of
from dlmbuild.util.memo import memo_dict


class FileStateCache:
    """Path -> (stat signature, content hash), persisted under the store as a pickle snapshot plus an
    append-only journal (``<name>.log``) of the entries learned since.

    Rewriting a 10,000-entry snapshot costs ~20 ms; an edited build usually learns one or two
    hashes, so it appends them instead. The snapshot is rewritten (and the journal dropped) once
    the journal holds more than ``COMPACT_FRACTION`` of the snapshot's entries. A torn last
    record (a crash while appending) ends the replay and forces the next save to compact.
    """

    COMPACT_MIN = 1000
    COMPACT_FRACTION = 0.25

    # One loaded cache per state file and process, reused while the files on disk are the ones
    # it last read or wrote (saves are atomic renames or appends by this process, so another
    # process's save changes a signature). A resident process (dlm server, --watch) then skips
    # unpickling 10,000 entries per build.
    _open: dict[str, tuple[tuple, FileStateCache]] = memo_dict("engine.filestate")

    @classmethod
    def open(cls, path: Path) -> FileStateCache:
        """The cache stored at ``path``: the one this process already holds when the snapshot and
        journal on disk are still the ones it last read or wrote, else loaded afresh."""
        sig = cls._signature(path)
        held = cls._open.get(str(path))
        if held is not None and held[0] == sig and sig[0] is not None:
            cache = held[1]
        else:
            cache = cls(path)
            if sig[0] is not None:
                cls._open[str(path)] = (sig, cache)
        cache.hashed = 0
        return cache

    @staticmethod
    def _signature(path: Path) -> tuple:
        return signature(path), signature(journal_path(path))

    def __init__(self, path: Path | None):
        self.path = path
        self._entries: dict[str, tuple[Signature, str]] = {}
        self._pending: list[tuple[str, tuple[Signature, str]]] = []  # learned, not saved yet
        self._journaled = 0  # records in the journal on disk
        self._compact = False
        self.hashed = 0  # files actually read this run (for tests and --explain)
        if path is not None and path.exists():
            try:
                self._entries = pickle.loads(path.read_bytes())
            except Exception:  # a corrupt state file only costs re-hashing
                self._entries = {}
        if path is not None:
            self._replay(journal_path(path))

    def _replay(self, journal: Path) -> None:
        try:
            data = journal.read_bytes()
        except OSError:
            return
        stream = io.BytesIO(data)
        while stream.tell() < len(data):
            try:
                records = pickle.load(stream)
            except Exception:  # a torn append: keep what came before, rewrite on the next save
                self._compact = True
                return
            self._entries.update(records)
            self._journaled += len(records)

    def hash(self, path: str | Path, st: os.stat_result | None = None) -> str:
        """The content hash of ``path``, from the cache when its stat is unchanged."""
        key_path = os.fspath(path)
        return self.hash_known(key_path, signature_of(st or os.stat(key_path)))

    def hash_known(self, path: str, key: Signature) -> str:
        """Like ``hash`` with the signature a directory walk already took (one stat per file,
        not two). Content changed after that stat is hashed under the old key, which the next
        build's stat cannot match, so it is hashed again then."""
        entry = self._entries.get(path)
        if entry is not None and entry[0] == key:
            return entry[1]
        digest = hash_file(path)
        self.hashed += 1
        if not racy(key):
            self._learn(path, (key, digest))
        return digest

    def hash_all(self, paths: list[str], keys: list[Signature]) -> list[str]:
        """``hash_known`` for many files: a 10,000-file source tree is looked up at dict speed."""
        get = self._entries.get
        digests = []
        for path, key in zip(paths, keys):
            entry = get(path)
            digests.append(entry[1] if entry is not None and entry[0] == key else self.hash_known(path, key))
        return digests

    def remember(self, path: str | Path, digest: str) -> None:
        """Record a hash computed elsewhere (an output we just wrote)."""
        key_path = os.fspath(path)
        sig = signature_of(os.stat(key_path))
        if not racy(sig):
            self._learn(key_path, (sig, digest))

    def _learn(self, path: str, entry: tuple[Signature, str]) -> None:
        self._entries[path] = entry
        self._pending.append((path, entry))

    def save(self) -> None:
        """Persist what this run learned: appended to the journal, or the whole snapshot
        rewritten atomically once the journal has grown too long (or a torn record was seen)."""
        if not self._pending or self.path is None:
            return
        journal = journal_path(self.path)
        grown = self._journaled + len(self._pending)
        if self._compact or not self.path.exists() or grown > max(self.COMPACT_MIN, self.COMPACT_FRACTION * len(self._entries)):
            atomic_write_bytes(self.path, pickle.dumps(self._entries, protocol=pickle.HIGHEST_PROTOCOL), durable=False)
            journal.unlink(missing_ok=True)
            self._journaled, self._compact = 0, False
        else:
            with open(journal, "ab") as handle:  # one record per save: a crash tears only the last
                handle.write(pickle.dumps(dict(self._pending), protocol=pickle.HIGHEST_PROTOCOL))
            self._journaled = grown
        self._pending.clear()
        sig = FileStateCache._signature(self.path)
        if sig[0] is not None:
            FileStateCache._open[str(self.path)] = (sig, self)


def journal_path(path: Path) -> Path:
    """The journal beside a file-state snapshot (``files.pkl`` -> ``files.log``)."""
    return path.with_name(path.name.removesuffix(".pkl") + ".log")
