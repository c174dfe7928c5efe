"""A pack's manifest: its name, its format number, its bytes and the checks on its shape.

``manifest.json`` is a pack's first member: ``{"format": 1, "members": {name: {"sha256",
"size"}}, "total_size", **meta}``. The writer serialises it and the reader checks it here, so
what one writes is what the other expects. The hard cap on ``total_size`` is the container's
(``archive.HARD_CAP_BYTES``) and is passed in, so this module imports nothing from the archive.
"""

from __future__ import annotations

import json
import re

from dlmbuild.pack.names import collapse_whitespace, folder_file_clash, member_name_problem, quoted_name

MANIFEST = "manifest.json"
FORMAT = 1

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def encode_manifest(manifest: dict) -> bytes:
    """The manifest as written: sorted keys, so the same content gives the same bytes."""
    return json.dumps(manifest, sort_keys=True, indent=1, allow_nan=False).encode("utf-8") + b"\n"


def no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict:
    """A JSON object that sets a key twice means two things to two readers: refused.
    (``json.loads``'s ``object_pairs_hook``.)"""
    result: dict = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"key {key!r} appears twice")
        result[key] = value
    return result


def manifest_shape_problem(manifest: dict, *, max_total: int) -> str | None:
    """What is wrong with a format-1 manifest's shape, or None. Everything the reader relies on
    is checked here, before any member is read: names, sizes, hashes, the total, which may not
    exceed ``max_total`` bytes."""
    members = manifest.get("members")
    if not isinstance(members, dict):
        return "'members' is not an object"
    total = 0
    for name, entry in members.items():
        problem = member_name_problem(name)
        if problem:
            return f"member {quoted_name(name)} is not a safe path ({problem})"
        if name == MANIFEST:
            return f"it lists {MANIFEST} as a member"
        if not isinstance(entry, dict) or set(entry) != {"sha256", "size"}:
            return f"member {quoted_name(name)} must have exactly 'sha256' and 'size'"
        if not isinstance(entry["sha256"], str) or not _SHA256_HEX.fullmatch(entry["sha256"]):
            return f"member {quoted_name(name)} has a sha256 that is not 64 lowercase hex digits"
        size = entry["size"]
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            return f"member {quoted_name(name)} has a size that is not a whole number of bytes"
        total += size
    clash = folder_file_clash(list(members))
    if clash:
        return f"member {quoted_name(clash)} is both a file and a folder of other members"
    declared = manifest.get("total_size")
    if not isinstance(declared, int) or isinstance(declared, bool) or declared != total:
        return f"'total_size' is {collapse_whitespace(repr(declared))[:40]} but the members add up to {total}"
    if total > max_total:
        return f"it declares {total} bytes, more than the {max_total} bytes a pack may hold"
    return None
