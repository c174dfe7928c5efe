"""The action cache: action key -> outputs, stored under the store's ``actions/`` folder.

Each entry is a folder named by its key holding ``out/`` (the files the action wrote) and
``manifest.json`` (each file's content hash and the output hash over them). An entry is only
used after its files check out against the manifest (cheaply, through the file-state cache);
one that fails is discarded and rebuilt, never used. Since keys are content-derived, reverting
an edit brings back an old key, and its entry: a cache hit.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from dlmbuild.engine.filestate import FileStateCache
from dlmbuild.engine.hashing import hash_file, hash_json
from dlmbuild.store.atomic import atomic_write_text, fsync_dir


@dataclass(frozen=True)
class CachedOutputs:
    key: str
    out_dir: Path
    files: dict[str, str]  # relative path -> content hash
    output_hash: str


class ActionCache:
    def __init__(self, root: Path, filestate: FileStateCache):
        self.root = root
        self.filestate = filestate

    def entry_dir(self, key: str) -> Path:
        return self.root / key[:2] / key

    def lookup(self, key: str) -> CachedOutputs | None:
        """The verified outputs for ``key``, or None (a corrupt entry is deleted)."""
        entry = self.entry_dir(key)
        manifest_path = entry / "manifest.json"
        if not manifest_path.exists():
            return None
        try:
            manifest = json.loads(manifest_path.read_text())
            files = manifest["files"]
            out_dir = entry / "out"
            for rel, digest in files.items():
                if self.filestate.hash(out_dir / rel) != digest:
                    raise ValueError(rel)
            output_hash = manifest["output_hash"]
        except (OSError, ValueError, KeyError, TypeError, AttributeError, json.JSONDecodeError):
            self.discard(key)
            return None
        return CachedOutputs(key, out_dir, files, output_hash)

    def commit(self, key: str, target: str, tmp_out: Path) -> CachedOutputs:
        """Move a finished action's temporary output folder into the cache, atomically."""
        files = {}
        for root, _dirs, names in os.walk(tmp_out):
            for name in names:
                path = Path(root) / name
                with open(path, "rb") as handle:
                    os.fsync(handle.fileno())
                files[path.relative_to(tmp_out).as_posix()] = hash_file(path)
        files = dict(sorted(files.items()))
        output_hash = hash_json(files)
        entry = self.entry_dir(key)
        if entry.exists():
            shutil.rmtree(entry)
        staging = entry.with_name(f".{key}.{os.getpid()}.tmp")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        os.replace(tmp_out, staging / "out")
        manifest = {"key": key, "target": target, "files": files, "output_hash": output_hash, "created": time.time()}
        atomic_write_text(staging / "manifest.json", json.dumps(manifest, indent=1, sort_keys=True))
        os.replace(staging, entry)
        fsync_dir(entry.parent)
        for rel, digest in files.items():
            self.filestate.remember(entry / "out" / rel, digest)
        return CachedOutputs(key, entry / "out", files, output_hash)

    def discard(self, key: str) -> None:
        shutil.rmtree(self.entry_dir(key), ignore_errors=True)

    def sweep(self) -> int:
        """Delete temporary folders left by builds that were killed mid-action (call with the
        store lock held, so no live build owns them). Returns how many were removed."""
        removed = 0
        if self.root.exists():
            for leftover in list(self.root.glob(".tmp-*")) + list(self.root.glob("*/.*.tmp")):
                shutil.rmtree(leftover, ignore_errors=True)
                removed += 1
        return removed

    def entries(self) -> list[tuple[str, dict]]:
        out = []
        if not self.root.exists():
            return out
        for shard in sorted(self.root.iterdir()):
            if not shard.is_dir():
                continue
            for entry in sorted(shard.iterdir()):
                manifest = entry / "manifest.json"
                if entry.name.startswith(".") or not manifest.exists():
                    continue
                try:
                    out.append((entry.name, json.loads(manifest.read_text())))
                except (OSError, json.JSONDecodeError):
                    out.append((entry.name, {}))
        return out
