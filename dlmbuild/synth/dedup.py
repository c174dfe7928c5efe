"""Near-duplicate questions, within a batch and against the questions a document already asks.

Similarity is RapidFuzz's ``token_sort_ratio`` on case-folded, punctuation-free text: the
normalized edit similarity of the two questions' sorted words, 0 to 100. Why RapidFuzz: the
texts are single questions of ten or so words, where an exact, deterministic edit measure is
what tells "Which port do clients use?" from "What port do clients use?" apart from a different
question; MinHash estimates Jaccard over shingles, which is noisy on strings this short, and a
sentence-embedding model costs a model load and calls two questions about different numbers
the same. RapidFuzz is a small, maintained C++ library with wheels for every platform.
"""

from __future__ import annotations

import re

DUPLICATE_AT = 88.0  # token_sort_ratio at or above this is the same question


def normalized(question: str) -> str:
    return " ".join(re.findall(r"\w+", question.casefold()))


def similarity(a: str, b: str) -> float:
    from rapidfuzz import fuzz

    return float(fuzz.token_sort_ratio(normalized(a), normalized(b)))


def split_duplicates(questions: list[str], existing: list[str], threshold: float = DUPLICATE_AT) -> tuple[list[int], list[int]]:
    """(indexes kept, indexes dropped) of ``questions``: a question is dropped when it is as
    similar as ``threshold`` to a question already in the document or to an earlier kept one.
    Earlier questions win, so the result depends only on the order given."""
    from rapidfuzz import fuzz, process

    seen = [normalized(q) for q in existing]
    kept, dropped = [], []
    for index, question in enumerate(questions):
        text = normalized(question)
        if not text:
            dropped.append(index)
            continue
        match = process.extractOne(text, seen, scorer=fuzz.token_sort_ratio, score_cutoff=threshold) if seen else None
        if match is not None:
            dropped.append(index)
        else:
            kept.append(index)
            seen.append(text)
    return kept, dropped
