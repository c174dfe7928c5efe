"""A staged run: what a generating command (``dlm synth``, ``dlm preference mine``) produced and a
later ``apply`` writes, kept as one JSON file in the store.

The file carries a schema name and is replaced atomically, so a crash or Ctrl-C leaves either
the old stage or the new one. A file that cannot be read back (another schema, a hand edit) is
one line that says which command to run again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from dlmbuild.errors import Location, UsageError
from dlmbuild.store.atomic import atomic_write_text

T = TypeVar("T")


class StagedFile:
    def __init__(self, path: Path, schema: str, rerun: str):
        self.path, self.schema, self.rerun = Path(path), schema, rerun

    def dumps(self, data: dict) -> str:
        return json.dumps({"schema": self.schema, **data}, indent=1, ensure_ascii=False, sort_keys=True) + "\n"

    def write(self, data: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path, self.dumps(data))

    def read(self, build: Callable[[dict], T]) -> T | None:
        """``build(data)`` of the staged data, or None when nothing is staged."""
        if not self.path.exists():
            return None
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("schema") != self.schema:
                raise ValueError(f"schema {data.get('schema')!r}")
            return build(data)
        except (ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"unreadable stage ({exc}); run '{self.rerun}' again", Location(self.path)) from None

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
