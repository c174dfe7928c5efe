"""Hand-built packs for the archive tests: tar headers crafted with ``tarfile.TarInfo`` and
compressed with ``zstandard`` directly, so they can hold what ``write_pack`` never writes
(links, devices, unsafe names, lying manifests, bombs)."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

import zstandard

from dlmbuild.pack.archive import MANIFEST


@dataclass
class Entry:
    """One tar member: its header and, for regular files, its content."""

    info: tarfile.TarInfo
    data: bytes | None = None


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest_for(files: dict[str, bytes], **overrides) -> dict:
    """An honest format-1 manifest for ``files``; ``overrides`` replace or add top-level keys."""
    manifest = {
        "format": 1,
        "members": {name: {"sha256": sha256(data), "size": len(data)} for name, data in files.items()},
        "total_size": sum(len(data) for data in files.values()),
    }
    manifest.update(overrides)
    return manifest


def regular(name: str, data: bytes, *, mode: int = 0o644, size: int | None = None) -> Entry:
    """A regular file; ``size`` other than len(data) writes a header that lies about it (the
    content is padded with zeros or cut to match)."""
    info = tarfile.TarInfo(name)
    info.size = len(data) if size is None else size
    info.mode = mode
    body = data[: info.size] + bytes(max(0, info.size - len(data)))
    return Entry(info, body)


def manifest_entry(manifest: dict | bytes, *, name: str = MANIFEST) -> Entry:
    """The manifest member, from a dict (serialized as the writer does) or raw bytes."""
    data = manifest if isinstance(manifest, bytes) else json.dumps(manifest, sort_keys=True, indent=1).encode()
    return regular(name, data)


def special(name: str, kind: bytes, *, linkname: str = "") -> Entry:
    """A non-regular member: symlink, hard link, device, FIFO or directory."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        info.devmajor, info.devminor = 1, 3  # /dev/null
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    return Entry(info)


def honest(files: dict[str, bytes]) -> list[Entry]:
    """Manifest plus members, as a well-formed pack holds them (before any tampering)."""
    return [manifest_entry(manifest_for(files)), *(regular(name, data) for name, data in sorted(files.items()))]


def write(path: Path, entries: list[Entry], *, trailing_zeros: int = 0, level: int = 3) -> Path:
    """Write ``entries`` as a zstd-compressed tar to ``path``; ``trailing_zeros`` appends that
    many zero bytes after the tar's end (inside the compressed stream), in 1 MiB chunks."""
    with open(path, "wb") as handle:
        with zstandard.ZstdCompressor(level=level, write_checksum=True).stream_writer(handle, closefd=False) as compressed:
            with tarfile.open(fileobj=compressed, mode="w|", format=tarfile.PAX_FORMAT, encoding="utf-8") as tar:
                for entry in entries:
                    tar.addfile(entry.info, io.BytesIO(entry.data) if entry.data is not None else None)
            chunk = bytes(1024**2)
            remaining = trailing_zeros
            while remaining:
                compressed.write(chunk[: min(len(chunk), remaining)])
                remaining -= min(len(chunk), remaining)
    return path


def compressed(path: Path, data: bytes) -> Path:
    """Any bytes, zstd-compressed (a valid zstd stream that need not hold a tar)."""
    path.write_bytes(zstandard.ZstdCompressor(level=3, write_checksum=True).compress(data))
    return path
