"""Scoring answers against probes, and the per-kind summary every report and table shows.

A regex is searched case-insensitively anywhere in the answer; an ``any_of`` list passes when
one of its strings appears, ignoring case. A score is passed / total, per kind and overall.
"""

from __future__ import annotations

import re
from functools import lru_cache

from dlmbuild.eval.probes import RESERVED_KIND, Probe

ALL = RESERVED_KIND


@lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re.Pattern:
    return re.compile(pattern, re.IGNORECASE)


def passes(probe: Probe, text: str) -> bool:
    """Whether ``text`` answers ``probe``."""
    expected = probe.expected
    if expected.regex is not None:
        return _compiled(expected.regex).search(text) is not None
    folded = text.casefold()
    return any(item.casefold() in folded for item in expected.any_of)


def tally(kinds: list[str], passed: list[bool]) -> dict[str, dict]:
    """``{kind: {"passed", "total", "score"}, ..., "all": {...}}`` for one system, kinds in the
    order they first appear in the probe file."""
    out: dict[str, dict] = {}
    for kind, ok in zip(kinds, passed, strict=True):
        row = out.setdefault(kind, {"passed": 0, "total": 0})
        row["passed"] += int(ok)
        row["total"] += 1
    out[ALL] = {"passed": sum(map(int, passed)), "total": len(passed)}
    for row in out.values():
        row["score"] = row["passed"] / row["total"] if row["total"] else 0.0
    return out


def summarize(probes: list[Probe], results: dict[str, list[bool]]) -> dict[str, dict]:
    """The report's ``summary``: one tally per system that ran."""
    kinds = [p.kind for p in probes]
    return {system: tally(kinds, passed) for system, passed in results.items()}
