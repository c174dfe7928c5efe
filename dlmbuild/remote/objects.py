"""A remote's layout, content-addressed, and the only code that moves bytes to or from it.

```
<root>/cas/<aa>/<sha256>           every file, named by the sha256 of its bytes
<root>/ac/<kk>/<key>.json          an action-cache entry: target, output hash, files -> sha256
<root>/packs/<document>.json       the latest pack pushed for a document: its sha256 and size
```

Blobs are written before the entries that name them, so an entry never points at a missing
blob; a blob or entry appears whole (an S3 PUT is atomic; on a local or mounted folder it is
written under a temporary name and renamed), so two machines pushing the same key, or a push
racing a pull, see either the old object or the new one. Blobs are immutable: the same name
always holds the same bytes, so a race between two writers of one blob is harmless.

Every download lands in a temporary file beside its destination and is checked against the
sha256 it was asked for (and the size the entry records) before it is renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path

from dlmbuild.engine.remote import RemoteObjectRefused
from dlmbuild.remote.urls import filesystem, protocol

CHUNK = 1 << 20
ENTRY_FORMAT = 1


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class RemoteStore:
    """The objects of one remote URL, through fsspec."""

    def __init__(self, url: str, options: dict | None = None):
        self.url = url
        self.fs, self.root = filesystem(url, options or {})
        self.local = protocol(url) == "file"

    # -- names -------------------------------------------------------------------------------
    def blob_path(self, sha: str) -> str:
        return f"{self.root}/cas/{sha[:2]}/{sha}"

    def entry_path(self, key: str) -> str:
        return f"{self.root}/ac/{key[:2]}/{key}.json"

    def pack_index_path(self, document: str) -> str:
        return f"{self.root}/packs/{document}.json"

    # -- reading -----------------------------------------------------------------------------
    def ping(self) -> None:
        """Raise unless the remote answers (an empty or not-yet-created root answers)."""
        self.fs.invalidate_cache()
        self.fs.exists(f"{self.root}/ac")

    def has(self, path: str) -> bool:
        self.fs.invalidate_cache(path)
        return self.fs.exists(path)

    def read_json(self, path: str) -> dict | None:
        """A small JSON object, or None when it is absent; a malformed one is refused."""
        try:
            with self.fs.open(path, "rb") as handle:
                data = handle.read(16 << 20)
        except FileNotFoundError:
            return None
        try:
            value = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise RemoteObjectRefused(f"{path.rsplit('/', 1)[-1]} is not valid JSON") from None
        if not isinstance(value, dict):
            raise RemoteObjectRefused(f"{path.rsplit('/', 1)[-1]} is not a JSON object")
        return value

    def get_blob(self, sha: str, dest: Path, size: int | None = None) -> None:
        """Download blob ``sha`` to ``dest`` (atomically), refusing bytes that do not hash to it."""
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.part")
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            try:
                self.fs.get_file(self.blob_path(sha), str(tmp))
            except FileNotFoundError:
                raise RemoteObjectRefused(f"blob {sha[:12]} is missing") from None
            if size is not None and tmp.stat().st_size != size:
                raise RemoteObjectRefused(f"blob {sha[:12]} has {tmp.stat().st_size} bytes, expected {size}")
            actual = sha256_file(tmp)
            if actual != sha:
                raise RemoteObjectRefused(f"blob {sha[:12]} hashes to {actual[:12]}: corrupt or tampered")
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)

    def list_entries(self) -> list[dict]:
        """Every action-cache entry (small JSON files): for ``dlm cache ls --remote``."""
        try:
            paths = self.fs.glob(f"{self.root}/ac/*/*.json")
        except FileNotFoundError:
            return []
        entries = []
        for path in sorted(paths):
            try:
                entry = self.read_json(path)
            except RemoteObjectRefused:
                entry = {"key": path.rsplit("/", 1)[-1].removesuffix(".json"), "corrupt": True}
            if entry is not None:
                entries.append(entry)
        return entries

    # -- writing -----------------------------------------------------------------------------
    def _put(self, local: Path, path: str) -> None:
        """Upload a file so that it appears whole under ``path``."""
        parent = path.rsplit("/", 1)[0]
        if self.local:
            self.fs.makedirs(parent, exist_ok=True)
            tmp = f"{parent}/.{path.rsplit('/', 1)[1]}.{uuid.uuid4().hex[:8]}.tmp"
            self.fs.put_file(str(local), tmp)
            os.replace(tmp, path)  # a rename: atomic on one file system
        else:
            self.fs.put_file(str(local), path)

    def put_blob(self, local: Path, sha: str) -> bool:
        """Upload ``local`` as blob ``sha`` unless the remote has it; True when sent."""
        path = self.blob_path(sha)
        if self.has(path):
            return False
        self._put(local, path)
        return True

    def put_json(self, value: dict, path: str, scratch: Path) -> None:
        tmp = scratch / f".{uuid.uuid4().hex}.json"
        tmp.write_text(json.dumps(value, indent=1, sort_keys=True), encoding="utf-8")
        try:
            self._put(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
