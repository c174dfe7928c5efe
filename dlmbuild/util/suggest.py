"""'Did you mean' hints for misspelt names (section types, fields, adapters, targets, commands)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(word: str, candidates: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The candidate most like ``word``, or None when nothing is close enough to suggest."""
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=cutoff)
    return matches[0] if matches else None


def did_you_mean(word: str, candidates: Iterable[str], quote: str = "'") -> str:
    """`` (did you mean 'x'?)`` or an empty string."""
    match = closest(word, candidates)
    return f" (did you mean {quote}{match}{quote}?)" if match else ""
