"""Content hashing: xxh3-128 over bytes, files and canonical JSON.

xxh3-128 is non-cryptographic but collision-resistant enough for build keys (Bazel and Buck use
similar fast hashes for their action caches) and runs at memory speed, which matters for
hashing base weights and source trees.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import xxhash

CHUNK = 1 << 20


def hash_bytes(data: bytes) -> str:
    """The content hash every key and output hash is made of (xxh3-128, hex)."""
    return xxhash.xxh3_128_hexdigest(data)


def hash_text(text: str) -> str:
    return hash_bytes(text.encode("utf-8"))


def hash_file(path: str | Path) -> str:
    """``hash_bytes`` of a file's content, read in chunks (base weights are gigabytes)."""
    digest = xxhash.xxh3_128()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace: the same value always gives the same text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def hash_json(value: Any) -> str:
    """The hash of a value's canonical JSON: how action keys are made from their components."""
    return hash_text(canonical_json(value))
