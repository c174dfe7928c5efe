"""Schema versions: upgrading old frontmatter in memory on read, and on disk with ``dlm migrate``.

Each migration is declarative: a list of key renames from version N to N+1. The same list drives
both paths: on read, the loaded dict is rewritten before validation; on ``dlm migrate``, the
lossless editor renames the key *tokens* in the frontmatter text and sets ``dlm_version``, so
comments, quoting and every byte of the body stay as they were.

Version history:
  1  the draft schema of the design card: ``training.adapter_type``, ``export.quant``,
     ``export.temperature``, ``export.top_p``.
  2  current: ``training.adapter``, ``export.default_quant``, ``export.default_temperature``,
     ``export.default_top_p``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from dlmbuild.document.schema import CURRENT_DLM_VERSION


@dataclass(frozen=True)
class Migration:
    from_version: int
    renames: tuple[tuple[tuple[str, ...], str], ...]  # (old key path, new last key)
    summary: str


MIGRATIONS: dict[int, Migration] = {
    1: Migration(
        1,
        (
            (("training", "adapter_type"), "adapter"),
            (("export", "quant"), "default_quant"),
            (("export", "temperature"), "default_temperature"),
            (("export", "top_p"), "default_top_p"),
        ),
        "rename training.adapter_type, export.quant/temperature/top_p to their v2 names",
    ),
}


def version_of(data: dict[str, Any]) -> int:
    """The document's schema version; a document without ``dlm_version`` is current."""
    value = data.get("dlm_version", CURRENT_DLM_VERSION)
    return value if isinstance(value, int) and not isinstance(value, bool) else CURRENT_DLM_VERSION


def pending_migrations(version: int) -> list[Migration]:
    return [MIGRATIONS[v] for v in range(version, CURRENT_DLM_VERSION) if v in MIGRATIONS]


def parent_mapping(data: dict[str, Any], key_path: tuple[str, ...]) -> dict[str, Any] | None:
    """The mapping that holds ``key_path[-1]``, or None when the path does not lead to one."""
    parent: Any = data
    for key in key_path[:-1]:
        parent = parent.get(key) if isinstance(parent, dict) else None
    return parent if isinstance(parent, dict) else None


def upgrade_data(data: dict[str, Any]) -> tuple[dict[str, Any], int | None]:
    """Return (upgraded copy, original version) or (data, None) when already current."""
    version = version_of(data)
    steps = pending_migrations(version)
    # Only versions that existed are upgraded; 0 or a negative number is left to the schema,
    # which reports it at its position instead of silently "migrating" it.
    if not steps or version < min(MIGRATIONS) or version >= CURRENT_DLM_VERSION:
        return data, None
    out = copy.deepcopy(data)
    for step in steps:
        for old_path, new_key in step.renames:
            parent = parent_mapping(out, old_path)
            if parent is not None and old_path[-1] in parent and new_key not in parent:
                parent[new_key] = parent.pop(old_path[-1])
    out["dlm_version"] = CURRENT_DLM_VERSION
    return out, version
