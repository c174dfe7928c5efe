"""Published adapter versions: ``adapters/<name>/versions/vNNNN/`` and a ``current`` pointer.

The action cache holds every adapter ever built, keyed by content; this is the user-facing view
of it. Publishing the output of a ``:train-<name>`` key either points ``current`` back at the
version already made from that key (a reverted edit is a cache hit, not a new version) or copies
the files into the next ``vNNNN`` folder (written whole, then renamed into place) and moves the
pointer. The pointer is a one-line file replaced atomically, so a reader sees the old version or
the new one, never a mix; a crash mid-publish leaves the previous version current and loadable.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from dlmbuild.store.atomic import atomic_directory, atomic_write_text

VERSION_DIR = re.compile(r"^v(\d{4,})$")
KEY_FILE = "dlm-version.json"


@dataclass(frozen=True)
class AdapterVersion:
    """One published version of an adapter: ``versions/vNNNN`` and the action key that built it."""

    name: str
    number: int
    path: Path
    key: str

    @property
    def label(self) -> str:
        return f"v{self.number:04d}"


class AdapterVersions:
    """The versions of one adapter under ``adapters/<name>/``: numbered folders, never rewritten,
    and a ``current`` pointer file, so retraining to an earlier key points back instead of copying."""

    def __init__(self, adapters_root: Path, name: str):
        self.name = name
        self.root = Path(adapters_root) / name
        self.versions = self.root / "versions"
        self.pointer = self.root / "current"

    def all(self) -> list[AdapterVersion]:
        """Every version, oldest first: the ``vNNNN`` folders that hold their key file."""
        if not self.versions.is_dir():
            return []
        out = []
        for entry in sorted(self.versions.iterdir()):
            match = VERSION_DIR.match(entry.name)
            if match and (entry / KEY_FILE).is_file():
                key = json.loads((entry / KEY_FILE).read_text(encoding="utf-8")).get("key", "")
                out.append(AdapterVersion(self.name, int(match.group(1)), entry, key))
        return out

    def current(self) -> AdapterVersion | None:
        """The version ``current`` points at, or None before the first training."""
        try:
            label = self.pointer.read_text(encoding="utf-8").strip()
        except OSError:
            return None
        return next((v for v in self.all() if v.label == label), None)

    def publish(self, key: str, out_dir: Path, meta: dict | None = None) -> AdapterVersion:
        """Make the output of ``key`` current, creating a new version only if none has it."""
        current = self.current()
        if current is not None and current.key == key:
            return current
        existing = next((v for v in reversed(self.all()) if v.key == key), None)
        if existing is None:
            number = max((v.number for v in self.all()), default=0) + 1
            path = self.versions / f"v{number:04d}"
            with atomic_directory(path) as tmp:
                for item in Path(out_dir).iterdir():
                    if item.is_file():
                        _link_or_copy(item, tmp / item.name)
                (tmp / KEY_FILE).write_text(json.dumps({"key": key, **(meta or {})}, sort_keys=True), encoding="utf-8")
            existing = AdapterVersion(self.name, number, path, key)
        atomic_write_text(self.pointer, existing.label + "\n")
        return existing


def _link_or_copy(src: Path, dst: Path) -> None:
    """Hard-link from the action cache (same filesystem, no extra disk), else copy."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
