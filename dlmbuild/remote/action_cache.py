"""The shared action cache: local entries uploaded to a remote, remote ones fetched on a miss.

This is Bazel's ``--remote_cache`` and DVC's run-cache for dlm. An action key is computed from
the same inputs on every machine (the document's sections, source hashes, config slices, the
base's hashes and the locked toolchain), so a teammate's build asks for the key this machine
uploaded, and gets a hit instead of ten minutes of training.

What is shared: every target, except that outputs holding the base's weights (the base as GGUF,
merges, exports, the gate's feature model) go only where the base's licence allows passing them
on (bases/registry.py ``redistributable``), as in a pack.

A fetched entry is trusted no more than a pack member: each file's sha256 and size must match
the entry, each file's content hash must match the entry's, and those must add up to its output
hash; then it is committed into the local action cache as if built here. Anything else is
refused (``RemoteObjectRefused``) and the local store is left as it was.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path, PurePosixPath

from dlmbuild.engine.actioncache import ActionCache, CachedOutputs
from dlmbuild.engine.hashing import hash_file, hash_json
from dlmbuild.engine.remote import RemoteObjectRefused, RemoteUnavailable
from dlmbuild.engine.target import Target
from dlmbuild.remote.objects import ENTRY_FORMAT, RemoteStore, sha256_file
from dlmbuild.remote.urls import scrub

SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _safe_rel(rel: str) -> bool:
    path = PurePosixPath(rel)
    return bool(rel) and not path.is_absolute() and ".." not in path.parts and "\\" not in rel and "\0" not in rel


def check_entry(entry: dict, key: str) -> dict[str, dict]:
    """The files of a remote entry, after checking it is well-formed and adds up."""
    files = entry.get("files")
    if entry.get("format") != ENTRY_FORMAT or entry.get("key") != key or not isinstance(files, dict):
        raise RemoteObjectRefused(f"entry {key[:12]} is malformed")
    for rel, row in files.items():
        if not _safe_rel(rel) or not isinstance(row, dict):
            raise RemoteObjectRefused(f"entry {key[:12]} names an unsafe path {rel!r}")
        if not SHA256.match(str(row.get("sha256", ""))) or not isinstance(row.get("size"), int) or not isinstance(row.get("digest"), str):
            raise RemoteObjectRefused(f"entry {key[:12]}: {rel} has no valid sha256, size and digest")
    if hash_json({rel: row["digest"] for rel, row in sorted(files.items())}) != entry.get("output_hash"):
        raise RemoteObjectRefused(f"entry {key[:12]}: its files do not add up to its output hash")
    return files


class RemoteActionCache:
    """One remote's action cache, as the engine's ``RemoteCache`` protocol wants it."""

    def __init__(self, name: str, store: RemoteStore, *, share_base: bool):
        self.name = name
        self.store = store
        self.share_base = share_base

    def shares(self, target: Target) -> bool:
        return self.shares_rule(target.rule_id)

    def shares_rule(self, rule_id: str) -> bool:
        """Whether outputs of rule ``rule@version`` may travel: all but the base's weights,
        which go only where its licence allows."""
        from dlmbuild.pack.contents import base_derived

        return self.share_base or not base_derived(rule_id)

    def contains(self, key: str) -> bool:
        return self._guard(lambda: self.store.has(self.store.entry_path(key)))

    def fetch(self, key: str, target: Target, cache: ActionCache) -> CachedOutputs | None:
        return self._guard(lambda: self.fetch_entry(key, target.name, cache))

    def upload(self, key: str, target: Target, cache: ActionCache) -> bool:
        return self._guard(lambda: self.upload_entry(key, cache))

    def _guard(self, call):
        """Run ``call``; a failure that is not about one object becomes ``RemoteUnavailable``
        with secrets scrubbed from its text."""
        try:
            return call()
        except (RemoteObjectRefused, RemoteUnavailable):
            raise
        except Exception as exc:
            raise RemoteUnavailable(scrub(f"{type(exc).__name__}: {exc}")) from None

    def fetch_entry(self, key: str, target_name: str, cache: ActionCache) -> CachedOutputs | None:
        """Download, check and commit ``key``'s entry; None when the remote has none."""
        entry = self.store.read_json(self.store.entry_path(key))
        if entry is None:
            return None
        files = check_entry(entry, key)
        cache.root.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f".tmp-remote-{key[:12]}-", dir=cache.root))  # swept if killed
        try:
            out = scratch / "out"
            out.mkdir()
            for rel, row in sorted(files.items()):
                dest = out / rel
                self.store.get_blob(row["sha256"], dest, row["size"])
                if hash_file(dest) != row["digest"]:
                    raise RemoteObjectRefused(f"{rel} does not match its content hash")
            committed = cache.commit(key, target_name, out)
            if committed.output_hash != entry["output_hash"]:
                cache.discard(key)
                raise RemoteObjectRefused(f"entry {key[:12]} does not reproduce its output hash")
            return committed
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def upload_entry(self, key: str, cache: ActionCache) -> bool:
        """Upload a local entry's blobs, then its JSON, unless the remote has the entry."""
        verified = cache.lookup(key)  # a damaged local entry is discarded, never uploaded
        if verified is None or self.store.has(self.store.entry_path(key)):
            return False
        local = cache.entry_dir(key)
        manifest = json.loads((local / "manifest.json").read_text())
        files = {}
        for rel, digest in sorted(manifest["files"].items()):
            path = local / "out" / rel
            sha = sha256_file(path)
            self.store.put_blob(path, sha)
            files[rel] = {"sha256": sha, "size": path.stat().st_size, "digest": digest}
        entry = {"format": ENTRY_FORMAT, "key": key, "target": manifest.get("target"), "files": files,
                 "output_hash": manifest["output_hash"]}
        self.store.put_json(entry, self.store.entry_path(key), cache.root)
        return True
