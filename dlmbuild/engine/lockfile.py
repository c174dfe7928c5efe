"""``dlm.lock``: the resolved base, the toolchain, and each target's key and golden output hashes.

Written as TOML with sorted keys and one value per line, so a change shows as a small diff in
review; read back with the standard library's tomllib. ``dlm verify`` rebuilds the locked
targets in a scratch store and compares every output hash against this file.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock

from dlmbuild.engine.hashing import hash_text
from dlmbuild.errors import DocumentError, Location
from dlmbuild.store.atomic import atomic_write_text

LOCK_VERSION = 1
HEADER = "# dlm.lock: written by `dlm build`; commit it. `dlm verify` rebuilds and compares.\n"


@dataclass
class LockedTarget:
    rule: str
    key: str
    output: str
    files: dict[str, str] = field(default_factory=dict)


@dataclass
class Lock:
    """One document's entry in ``dlm.lock``."""

    dlm_id: str = ""
    base: dict[str, str] = field(default_factory=dict)
    toolchain: dict[str, str] = field(default_factory=dict)
    targets: dict[str, LockedTarget] = field(default_factory=dict)

    def render(self, doc_name: str) -> list[str]:
        prefix = f"documents.{_s(doc_name)}"
        lines = [f"[{prefix}]", f"dlm_id = {_s(self.dlm_id)}", "", f"[{prefix}.base]"]
        lines += [f"{_k(k)} = {_s(v)}" for k, v in sorted(self.base.items())]
        lines += ["", f"[{prefix}.toolchain]"]
        lines += [f"{_k(k)} = {_s(v)}" for k, v in sorted(self.toolchain.items())]
        for name, t in sorted(self.targets.items()):
            lines += ["", f"[{prefix}.targets.{_s(name)}]", f"rule = {_s(t.rule)}", f"key = {_s(t.key)}", f"output = {_s(t.output)}"]
            lines += [f"files.{_s(rel)} = {_s(digest)}" for rel, digest in sorted(t.files.items())]
        return lines


def lock_path(doc_path: Path) -> Path:
    """``dlm.lock`` beside the document. A folder with several documents shares one lock file,
    one ``[documents."NAME.dlm"]`` table each, like a Cargo workspace's single Cargo.lock."""
    return doc_path.parent / "dlm.lock"


def read_locks(path: Path) -> dict[str, Lock]:
    """Every document's entry in the lock file at ``path`` ({} when there is none)."""
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DocumentError(f"corrupt lock file ({exc}); delete it and run `dlm build`", Location(path)) from None
    try:
        if data.get("lock_version", LOCK_VERSION) > LOCK_VERSION:
            raise DocumentError("lock file was written by a newer dlm; upgrade dlm", Location(path))
        out = {}
        for doc_name, entry in data.get("documents", {}).items():
            targets = {
                name: LockedTarget(t.get("rule", ""), t.get("key", ""), t.get("output", ""), dict(t.get("files", {})))
                for name, t in entry.get("targets", {}).items()
            }
            out[doc_name] = Lock(entry.get("dlm_id", ""), dict(entry.get("base", {})), dict(entry.get("toolchain", {})), targets)
    except (AttributeError, TypeError, ValueError) as exc:
        raise DocumentError(f"malformed lock file ({exc}); delete it and run `dlm build`", Location(path)) from None
    return out


def read_lock(doc_path: Path) -> Lock | None:
    """This document's entry of the ``dlm.lock`` beside it (one lock serves the folder's documents)."""
    return read_locks(lock_path(doc_path)).get(doc_path.name)


def render_locks(locks: dict[str, Lock]) -> str:
    lines = [HEADER.rstrip("\n"), f"lock_version = {LOCK_VERSION}"]
    for name in sorted(locks):
        lines.append("")
        lines += locks[name].render(name)
    return "\n".join(lines) + "\n"


def write_lock(doc_path: Path, lock: Lock, home: Path) -> bool:
    """Replace this document's entry (dropping entries of documents no longer in the folder);
    returns whether the file changed. Serialized across processes by a lock in ``home``."""
    path = lock_path(doc_path)
    guard = home / "locks" / (hash_text(str(path.resolve()))[:16] + ".lock")
    guard.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(guard)):
        locks = {n: l for n, l in read_locks(path).items() if (path.parent / n).exists()}
        locks[doc_path.name] = lock
        text = render_locks(locks)
        if path.exists() and path.read_text(encoding="utf-8") == text:
            return False
        atomic_write_text(path, text)
        return True


def _s(value: Any) -> str:
    return json.dumps(str(value), ensure_ascii=False)


def _k(key: str) -> str:
    """A TOML bare key when it is one (ASCII letters, digits, - and _), else a quoted key."""
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _s(key)
