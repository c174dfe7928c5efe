"""Word error rate: (substitutions + deletions + insertions) / reference words.

Both sides are normalised the same simple way before counting (lower case, punctuation other
than inner apostrophes and hyphens removed, whitespace collapsed), so "Tidemoor." and
"tidemoor" match and a transcript is judged on its words, which is what domain adaptation
changes. Whisper's full English normaliser (number and spelling rewrites) is not used: the
clips here are read from plain text, and its rewrites could hide a misspelled name.
"""

from __future__ import annotations

import re

_NOT_WORD = re.compile(r"[^\w'\- ]+")


def words(text: str) -> list[str]:
    text = _NOT_WORD.sub(" ", text.lower())
    return [w.strip("'-") for w in text.split() if w.strip("'-")]


def edit_distance(reference: list[str], hypothesis: list[str]) -> int:
    """Levenshtein distance over words (one row at a time)."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        current = [i]
        for j, hyp in enumerate(hypothesis, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref != hyp)))
        previous = current
    return previous[-1]


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(word edits, reference words) for one pair."""
    ref = words(reference)
    return edit_distance(ref, words(hypothesis)), len(ref)


def wer(pairs: list[tuple[str, str]]) -> float:
    """Corpus WER over (reference, hypothesis) pairs: total edits over total reference words."""
    edits = total = 0
    for reference, hypothesis in pairs:
        e, n = word_errors(reference, hypothesis)
        edits += e
        total += n
    return edits / total if total else 0.0
