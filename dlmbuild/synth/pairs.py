"""Teacher replies parsed into (question, answer) pairs, tolerantly.

Accepted: ``Q:``/``A:`` lines (also ``Question:``/``Answer:``, numbered or bulleted, an answer
running over several lines), or a JSON list of ``{"question", "answer"}`` objects. A reply with
no complete pair is *unparsable*: counted, never an error.
"""

from __future__ import annotations

import json
import re

_Q = re.compile(r"^\s*(?:[-*]\s*|\d+[.)]\s*)?(?:\*\*)?(?:Q|Question)\s*\d*\s*(?:\*\*)?\s*[:.)]\s*(?:\*\*)?\s*(.*)$", re.I)
_A = re.compile(r"^\s*(?:[-*]\s*)?(?:\*\*)?(?:A|Answer)\s*\d*\s*(?:\*\*)?\s*[:.)]\s*(?:\*\*)?\s*(.*)$", re.I)
MAX_QUESTION_CHARS = 300
MAX_ANSWER_CHARS = 1200


def parse_pairs(reply: str) -> list[tuple[str, str]]:
    """The complete, non-empty pairs in ``reply``, in order (duplicates kept: dedup decides)."""
    found = _json_pairs(reply)
    if found is None:
        found = _line_pairs(reply)
    return [(q, a) for q, a in found if _usable(q, a)]


def parse_question(reply: str) -> str | None:
    """Statement mode: the question a teacher wrote after ``Question:``, its first line, if it
    is one (ends with '?', three words or more)."""
    lines = reply.strip().splitlines()
    question = _clean(lines[0]) if lines else ""
    if not question.endswith("?") or len(question.split()) < 3 or len(question) > MAX_QUESTION_CHARS:
        return None
    return question


def borrows_example(question: str, passage: str) -> bool:
    """A question naming the worked example's subject (and not the passage's) was copied from
    the example, not written about the passage."""
    from dlmbuild.synth.prompts import EXAMPLE_WORDS

    words = set(re.findall(r"\w+", question.casefold()))
    return bool((words & EXAMPLE_WORDS) - set(re.findall(r"\w+", passage.casefold())))


def _usable(question: str, answer: str) -> bool:
    return bool(question) and bool(answer) and len(question) <= MAX_QUESTION_CHARS and len(answer) <= MAX_ANSWER_CHARS


def _clean(text: str) -> str:
    return " ".join(text.replace("**", "").split()).strip()


def _json_pairs(reply: str) -> list[tuple[str, str]] | None:
    start, end = reply.find("["), reply.rfind("]")
    if start < 0 or end <= start:
        return None
    try:
        items = json.loads(reply[start:end + 1])
    except ValueError:
        return None
    if not isinstance(items, list):
        return None
    pairs = []
    for item in items:
        if isinstance(item, dict):
            q, a = item.get("question", item.get("q")), item.get("answer", item.get("a"))
            if isinstance(q, str) and isinstance(a, str):
                pairs.append((_clean(q), _clean(a)))
    return pairs


def _line_pairs(reply: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    question: str | None = None
    answer: list[str] | None = None

    def close() -> None:
        if question is not None and answer is not None:
            pairs.append((_clean(question), _clean(" ".join(answer))))

    for line in reply.splitlines():
        if (m := _Q.match(line)) and not _A.match(line):
            close()
            question, answer = m.group(1), None
        elif (m := _A.match(line)) and question is not None and answer is None:
            answer = [m.group(1)]
        elif answer is not None and line.strip():
            answer.append(line)
        elif answer is not None:
            close()
            question, answer = None, None
    close()
    return pairs
