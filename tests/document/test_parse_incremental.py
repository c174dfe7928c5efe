"""dlmbuild.document.parse: a re-parse after an edit reuses the unchanged sections (shifted to
their new place) and gives exactly the Document a fresh parse gives."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlmbuild.document import parse
from dlmbuild.document.text import SourceText
from dlmbuild.errors import DocumentError
from dlmbuild.util import memo

PATH = Path("reparse.dlm")
HEAD = "---\ndlm_id: 01JD5ZQ8V7W9X2Y3Z4A5B6C7D8\nbase_model: smollm2-135m\ntraining:\n  adapters: {main: {}, tone: {}}\n---\n"
PIECES = [
    "::prose::\n", "::instruction::\n", "::instruction#tone::\n", "::preference::\n", "### Q\n", "### A\n",
    "### Prompt\n", "### Chosen\n", "### Rejected\n", "```\n", "plain text\n", "more words\n", "\n", "x",
    "::instruction#nope::\n", '<!-- auto-synth teacher="t" -->\n',
]
# Well-formed sections, so that most generated documents parse and an edit moves real sections.
BLOCKS = [
    "::prose::\nplain text\n\n", "::instruction::\n### Q\nq?\n### A\na.\n\n",
    "::instruction#tone::\n### Q\nwhy?\n### A\nso.\n\n### Q\nand?\n### A\nthen.\n\n",
    "::preference::\n### Prompt\np\n### Chosen\nc\n### Rejected\nr\n\n",
    '::prose::\n<!-- auto-synth teacher="t" -->\n```\ncode\n```\n', "more words\n",
]


def outcome(text: str):
    """The sections with every field that a re-parse must reproduce, or the error line."""
    try:
        doc = parse.parse_source(SourceText(path=PATH, text=text, bom=False))
    except DocumentError as exc:
        return str(exc)
    return [(s, s.pairs, s.triples, s.line, s.start, s.end) for s in doc.sections]


def forget() -> None:
    memo.invalidate("document.body")
    memo.invalidate("document.sections")


def after_edit(before: str, after: str):
    forget()
    outcome(before)
    try:
        return outcome(after)
    finally:
        forget()


def fresh(text: str):
    forget()
    try:
        return outcome(text)
    finally:
        forget()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(BLOCKS), max_size=20).map("".join), st.data())
def test_an_edit_anywhere_gives_what_a_fresh_parse_gives(text, data):
    before = HEAD + text
    at = data.draw(st.integers(len(HEAD), len(before)))
    cut = data.draw(st.integers(0, min(40, len(before) - at)))
    insert = data.draw(st.lists(st.sampled_from(PIECES + BLOCKS), max_size=3).map("".join))
    after = before[:at] + insert + before[at + cut :]
    expected = fresh(after)
    assert after_edit(before, after) == expected


def test_the_generated_documents_are_mostly_valid():
    """Guards the property above: a head that never parsed would compare error with error."""
    assert isinstance(fresh(HEAD + "::instruction#tone::\n### Q\nq\n### A\na\n"), list)


def instructions(count: int) -> str:
    return HEAD + "".join(f"::instruction::\n### Q\nWhat is {i}?\n### A\nIt is {i}.\n\n" for i in range(count))


@pytest.mark.parametrize("edit", [
    lambda t: t.replace("What is 3?", "What is three,\nreally?"),  # the sections after move by a line
    lambda t: t.replace("It is 5.", "It is five."),
    lambda t: t.replace("adapters: {main: {}, tone: {}}", "adapters: {tone: {}, main: {}}"),  # routing changes
])
def test_moved_sections_keep_their_content_and_get_new_lines(edit):
    before = instructions(40)
    after = edit(before)
    assert after_edit(before, after) == fresh(after)


def test_unchanged_sections_are_not_read_again(monkeypatch):
    before = instructions(100)
    forget()
    parse.parse_source(SourceText(path=PATH, text=before, bom=False))
    read = []
    real = parse.read_section
    monkeypatch.setattr(parse, "read_section", lambda path, raw: read.append(raw) or real(path, raw))
    doc = parse.parse_source(SourceText(path=PATH, text=before.replace("What is 50?", "What is fifty,\nreally?"), bom=False))
    forget()
    assert len(read) == 1
    assert doc.sections[60].pairs[0].line == doc.sections[60].line + 1
    assert doc.sections[60].line == fresh_line(before, 60) + 1


def fresh_line(text: str, index: int) -> int:
    forget()
    try:
        return parse.parse_source(SourceText(path=PATH, text=text, bom=False)).sections[index].line
    finally:
        forget()
