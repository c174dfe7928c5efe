"""What each target was last built from, so a dirty target can say which input moved.

One pickle per store: target name -> the key components of its last successful build. Ninja
keeps the equivalent in ``.ninja_log`` and prints it with ``-d explain``.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from dlmbuild.store.atomic import atomic_write_bytes
from dlmbuild.util.filesig import signature
from dlmbuild.util.memo import memo_dict


class BuildState:
    # One loaded state per file and process, reused while the file on disk is the one it last
    # read or wrote (as FileStateCache.open does): a resident process (dlm server) then skips
    # unpickling 12,000 recorded inputs per build.
    _open: dict[str, tuple[tuple[int, ...], BuildState]] = memo_dict("engine.state")

    @classmethod
    def open(cls, path: Path) -> BuildState:
        """The state stored at ``path``, reused from memory while the file is unchanged."""
        sig = signature(path)
        held = cls._open.get(str(path))
        if sig is not None and held is not None and held[0] == sig:
            return held[1]
        state = cls(path)
        if sig is not None:
            cls._open[str(path)] = (sig, state)
        return state

    def __init__(self, path: Path | None):
        self.path = path
        self.records: dict[str, dict[str, Any]] = {}
        self._dirty = False
        if path is not None and path.exists():
            try:
                self.records = pickle.loads(path.read_bytes())
            except Exception:
                self.records = {}

    def previous(self, target: str) -> dict[str, Any] | None:
        """The key components of ``target``'s last successful build (None: never built)."""
        return self.records.get(target)

    def record(self, target: str, components: dict[str, Any], key: str) -> None:
        """Remember what ``target`` was just built (or found cached) from; unchanged keys are
        not rewritten, so a no-change build saves nothing."""
        previous = self.records.get(target)
        if previous is None or previous.get("key") != key:
            self.records[target] = {**components, "key": key}
            self._dirty = True

    def save(self) -> None:
        """Write the state atomically if anything was recorded, and keep it as the loaded copy."""
        if self._dirty and self.path is not None:
            atomic_write_bytes(self.path, pickle.dumps(self.records, protocol=pickle.HIGHEST_PROTOCOL), durable=False)
            self._dirty = False
            sig = signature(self.path)
            if sig is not None:
                BuildState._open[str(self.path)] = (sig, self)

