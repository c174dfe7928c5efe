"""The ``in-context`` baseline's system prompt: the document itself, as plain text.

It answers "would the untrained base do as well if it could simply read the document?". The
document's prose and Q/A pairs (those routed to the evaluated adapter) are written out as text
after the document's own ``system_prompt``. When that does not fit the base's context window
with the question and the answer budget, the text is cut from its end: the beginning is kept,
and the report says how many characters were.
"""

from __future__ import annotations

from collections.abc import Callable

from dlmbuild.document.sections import SectionType


def document_text(doc, adapter: str) -> str:
    """The prose and Q/A pairs that train ``adapter``, in document order, as plain text
    (provenance comments are already gone from section text)."""
    parts: list[str] = []
    for section in doc.sections:
        if adapter not in section.adapters:
            continue
        if section.type is SectionType.PROSE:
            parts.append(section.text.strip())
        elif section.type is SectionType.INSTRUCTION:
            parts += [f"Q: {pair.question.strip()}\nA: {pair.answer.strip()}" for pair in section.pairs]
    return "\n\n".join(part for part in parts if part)


def compose_system(system_prompt: str | None, text: str) -> str:
    """The document's system prompt, a blank line, then the (possibly cut) document text."""
    return f"{system_prompt}\n\n{text}" if system_prompt and text else (system_prompt or text)


def longest_fitting_prefix(length: int, fits: Callable[[int], bool]) -> int:
    """The largest ``k`` in ``[0, length]`` with ``fits(k)``, for a ``fits`` that holds up to some
    point and fails after it (more text never fits better); 0 when even nothing fits. A binary
    search: a few dozen tokenizer calls for a whole document."""
    if fits(length):
        return length
    low, high = 0, length  # fits(low) is assumed (or nothing better exists); fits(high) is false
    while high - low > 1:
        middle = (low + high) // 2
        if fits(middle):
            low = middle
        else:
            high = middle
    return low
