"""The gate's training rows: every text the document routes to an adapter, with its labels.

What a prompt to a lane looks like is best told by the lane's own rows: instruction questions
and preference prompts are prompts already; prose (sections and source files) is cut into
passages, since a user asks about what a passage says. A row routed to several adapters (shared
prose) is labelled with all of them equally, so it teaches the gate to mix, not to pick.
"""

from __future__ import annotations

from dataclasses import dataclass

from dlmbuild.document.sections import SectionType

PASSAGE_CHARS = 600  # about a question's worth of context, in the base's context comfortably
MIN_PASSAGE_CHARS = 24  # headings and rules carry no lane
MAX_PASSAGES_PER_SECTION = 64  # a huge source file must not drown the questions


@dataclass(frozen=True)
class GateRow:
    text: str
    adapters: tuple[str, ...]


def passages(text: str) -> list[str]:
    """Blank-line separated paragraphs, joined up to ``PASSAGE_CHARS`` and cut at it."""
    out: list[str] = []
    current = ""
    for block in (b.strip() for b in text.replace("\r\n", "\n").split("\n\n")):
        if not block:
            continue
        if current and len(current) + len(block) + 2 > PASSAGE_CHARS:
            out.append(current)
            current = ""
        current = f"{current}\n\n{block}" if current else block
        while len(current) > PASSAGE_CHARS:
            out.append(current[:PASSAGE_CHARS])
            current = current[PASSAGE_CHARS:]
    if current:
        out.append(current)
    kept = [p for p in out if len(p) >= MIN_PASSAGE_CHARS]
    if len(kept) > MAX_PASSAGES_PER_SECTION:  # evenly spaced, so the whole file is represented
        step = len(kept) / MAX_PASSAGES_PER_SECTION
        kept = [kept[int(i * step)] for i in range(MAX_PASSAGES_PER_SECTION)]
    return kept


def section_rows(section) -> list[GateRow]:
    """The rows of one section, labelled with the adapters it trains."""
    labels = tuple(section.adapters)
    if not labels:
        return []
    if section.type == SectionType.INSTRUCTION:
        texts = [pair.question for pair in section.pairs]
    elif section.type == SectionType.PREFERENCE:
        texts = [triple.prompt for triple in section.triples]
    elif section.type == SectionType.PROSE:
        texts = passages(section.text)
    else:  # an image's alt text, an audio clip's transcript: what a prompt about it would say
        attrs = dict(section.attrs)
        texts = [attrs.get("alt") or attrs.get("transcript") or ""]
    return [GateRow(text.strip(), labels) for text in texts if text.strip()]


def gate_rows(sections) -> list[GateRow]:
    """All rows in document order (sources after the body, as ``:tokenize`` reads them),
    without exact duplicates (a question asked twice is one example)."""
    seen: set[tuple[str, tuple[str, ...]]] = set()
    rows = []
    for section in sections:
        for row in section_rows(section):
            if (row.text, row.adapters) not in seen:
                seen.add((row.text, row.adapters))
                rows.append(row)
    return rows


def rows_by_adapter(rows: list[GateRow], names: list[str]) -> dict[str, int]:
    """How many rows name each adapter (a shared row counts for each)."""
    return {name: sum(1 for r in rows if name in r.adapters) for name in names}
