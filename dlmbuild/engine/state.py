"""What each target was last built from, so a dirty target can say which input moved.

One pickle per store: target name -> the key components of its last successful build. Ninja
keeps the equivalent in ``.ninja_log`` and prints it with ``-d explain``.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from dlmbuild.store.atomic import atomic_write_bytes


class BuildState:
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
        return self.records.get(target)

    def record(self, target: str, components: dict[str, Any], key: str) -> None:
        previous = self.records.get(target)
        if previous is None or previous.get("key") != key:
            self.records[target] = {**components, "key": key}
            self._dirty = True

    def save(self) -> None:
        if self._dirty and self.path is not None:
            atomic_write_bytes(self.path, pickle.dumps(self.records, protocol=pickle.HIGHEST_PROTOCOL))
            self._dirty = False
