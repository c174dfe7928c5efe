"""``dlm.lock``: the resolved base, the toolchain, and each target's key and golden output hashes.

Written as TOML with sorted keys and one value per line, so a change shows as a small diff in
review; read back with the standard library's tomllib. ``dlm verify`` rebuilds the locked
targets in a scratch store and compares every output hash against this file.

Targets come in two kinds (lock version 2). *Shared* ones (tokenizing, data) make the same
bytes on every machine and are listed once. *Machine-bound* ones (training, and what is built
from an adapter) make bytes that depend on the machine class (``train/machine_class.py``):
they are listed under ``classes.<name>``, one table per class that recorded goldens, with the
class's fields, each target's ``basis`` (its key with the machine left out, equal across
classes for the same recipe) and, for adapters, the behaviour probes that ``dlm verify``
compares when the class differs. Several classes can sit in one lock, a laptop's and CI's.
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

LOCK_VERSION = 2  # 2: machine classes (1 listed every target once, with no class)
HEADER = "# dlm.lock: written by `dlm build`; commit it. `dlm verify` rebuilds and compares.\n"


@dataclass
class LockedTarget:
    rule: str
    key: str
    output: str
    files: dict[str, str] = field(default_factory=dict)
    basis: str = ""  # machine-bound targets: the key without the machine (same on every class)


@dataclass
class ClassGoldens:
    """One machine class's goldens: what it is, its machine-bound targets, their probes."""

    machine: dict[str, str] = field(default_factory=dict)  # device, precision, isa, deterministic
    targets: dict[str, LockedTarget] = field(default_factory=dict)
    probes: dict[str, dict[str, dict]] = field(default_factory=dict)  # target -> probe id -> argmax/logprob


@dataclass
class Lock:
    """One document's entry in ``dlm.lock``. ``here`` names the reading machine's class, which
    ``targets`` shows: the shared targets and that class's own."""

    dlm_id: str = ""
    base: dict[str, str] = field(default_factory=dict)
    toolchain: dict[str, str] = field(default_factory=dict)
    shared: dict[str, LockedTarget] = field(default_factory=dict)
    classes: dict[str, ClassGoldens] = field(default_factory=dict)
    here: str = ""
    version: int = LOCK_VERSION

    @property
    def targets(self) -> dict[str, LockedTarget]:
        entry = self.classes.get(self.here)
        return {**self.shared, **(entry.targets if entry else {})}

    def all_keys(self) -> set[str]:
        """Every key the lock names, whatever the class (what ``dlm cache prune`` keeps)."""
        return {t.key for t in self.shared.values()} | {t.key for c in self.classes.values() for t in c.targets.values()}

    def render(self, doc_name: str) -> list[str]:
        prefix = f"documents.{_s(doc_name)}"
        lines = [f"[{prefix}]", f"dlm_id = {_s(self.dlm_id)}"]
        if self.version < LOCK_VERSION:  # another document's entry, kept as an older dlm wrote it
            lines.append(f"written_as = {self.version}")
        lines += ["", f"[{prefix}.base]"]
        lines += [f"{_k(k)} = {_s(v)}" for k, v in sorted(self.base.items())]
        lines += ["", f"[{prefix}.toolchain]"]
        lines += [f"{_k(k)} = {_s(v)}" for k, v in sorted(self.toolchain.items())]
        lines += _render_targets(f"{prefix}.targets", self.shared)
        for name, entry in sorted(self.classes.items()):
            table = f"{prefix}.classes.{_s(name)}"
            lines += ["", f"[{table}]"] + [f"{_k(k)} = {_s(v)}" for k, v in sorted(entry.machine.items())]
            lines += _render_targets(f"{table}.targets", entry.targets)
            for target, probes in sorted(entry.probes.items()):
                lines += ["", f"[{table}.probes.{_s(target)}]"]
                for pid, probe in sorted(probes.items()):
                    lines.append(f"{_s(pid)}.argmax = {json.dumps(list(probe['argmax']))}")
                    lines.append(f"{_s(pid)}.logprob = [{', '.join(_num(v) for v in probe['logprob'])}]")
                    if probe.get("margin"):
                        lines.append(f"{_s(pid)}.margin = [{', '.join(_num(v) for v in probe['margin'])}]")
        return lines


def _render_targets(table: str, targets: dict[str, LockedTarget]) -> list[str]:
    lines: list[str] = []
    for name, t in sorted(targets.items()):
        lines += ["", f"[{table}.{_s(name)}]", f"rule = {_s(t.rule)}", f"key = {_s(t.key)}", f"output = {_s(t.output)}"]
        if t.basis:
            lines.append(f"basis = {_s(t.basis)}")
        lines += [f"files.{_s(rel)} = {_s(digest)}" for rel, digest in sorted(t.files.items())]
    return lines


def _num(value: float) -> str:
    """A probe's log-probability as TOML: fixed decimals, never an exponent."""
    text = f"{float(value):.4f}"
    return "0.0000" if text == "-0.0000" else text


def _read_targets(table: dict) -> dict[str, LockedTarget]:
    return {name: LockedTarget(t.get("rule", ""), t.get("key", ""), t.get("output", ""), dict(t.get("files", {})),
                               t.get("basis", ""))
            for name, t in table.items()}


def lock_path(doc_path: Path) -> Path:
    """``dlm.lock`` beside the document. A folder with several documents shares one lock file,
    one ``[documents."NAME.dlm"]`` table each, like a Cargo workspace's single Cargo.lock."""
    return doc_path.parent / "dlm.lock"


def read_locks(path: Path, here: str = "") -> dict[str, Lock]:
    """Every document's entry in the lock file at ``path`` ({} when there is none), viewed from
    machine class ``here``."""
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DocumentError(f"corrupt lock file ({exc}); delete it and run `dlm build`", Location(path)) from None
    try:
        version = data.get("lock_version", LOCK_VERSION)
        if version > LOCK_VERSION:
            raise DocumentError("lock file was written by a newer dlm; upgrade dlm", Location(path))
        out = {}
        for doc_name, entry in data.get("documents", {}).items():
            classes = {
                name: ClassGoldens({k: str(v) for k, v in c.items() if k not in ("targets", "probes")},
                                   _read_targets(c.get("targets", {})),
                                   {t: {pid: {"argmax": [int(x) for x in p.get("argmax", [])],
                                              "logprob": [float(x) for x in p.get("logprob", [])],
                                              **({"margin": [float(x) for x in p["margin"]]} if "margin" in p else {})}
                                        for pid, p in probes.items()}
                                    for t, probes in c.get("probes", {}).items()})
                for name, c in entry.get("classes", {}).items()
            }
            out[doc_name] = Lock(entry.get("dlm_id", ""), dict(entry.get("base", {})), dict(entry.get("toolchain", {})),
                                 _read_targets(entry.get("targets", {})), classes, here,
                                 int(entry.get("written_as", version)))
    except (AttributeError, TypeError, ValueError) as exc:
        raise DocumentError(f"malformed lock file ({exc}); delete it and run `dlm build`", Location(path)) from None
    return out


def read_lock(doc_path: Path, here: str = "") -> Lock | None:
    """This document's entry of the ``dlm.lock`` beside it (one lock serves the folder's
    documents), viewed from machine class ``here``."""
    return read_locks(lock_path(doc_path), here).get(doc_path.name)


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
