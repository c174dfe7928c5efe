"""dlmbuild.document.body: re-parsing only the edited span gives exactly what a full parse gives."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlmbuild.document import body
from dlmbuild.errors import DocumentError
from dlmbuild.util import memo

PATH = Path("incremental.dlm")
PIECES = [
    "::prose::\n", "::instruction::\n", "::instruction#tone::\n", "### Q\n", "### A\n", "```\n", "~~~python\n",
    "plain text\n", "more words here\n", "\n", "::prose::", "x", "::", "#", "\r\n", "### Q", "<!-- auto-synth teacher=\"t\" -->\n",
]


def snapshot(sections):
    return [
        (None if s.fence is None else (s.fence.text, s.line, s.start),
         [(ln.text, s.line + ln.row, s.start + ln.offset, ln.header) for ln in s.lines], s.start, s.end, s.line)
        for s in sections
    ]


def full(text: str, start: int, first_line: int):
    return incremental(None, text, start, first_line)


def incremental(before: str | None, after: str, start: int, first_line: int):
    """Sections of ``after`` as a snapshot (or the error), parsed after ``before`` (or afresh)."""
    memo.invalidate("document.body")
    try:
        if before is not None:
            try:
                body.split_body(PATH, before, start, first_line)
            except DocumentError:
                pass
        return snapshot(body.split_body(PATH, after, start, first_line))
    except DocumentError as exc:
        return str(exc)
    finally:
        memo.invalidate("document.body")


HEAD = "---\nbase_model: x\n---\n"
documents = st.lists(st.sampled_from(PIECES), min_size=0, max_size=30).map("".join)


@settings(max_examples=400, deadline=None)
@given(documents, st.data())
def test_an_edit_anywhere_parses_as_a_full_parse_would(text, data):
    before = HEAD + text
    at = data.draw(st.integers(len(HEAD), len(before)))
    cut = data.draw(st.integers(0, min(40, len(before) - at)))
    insert = data.draw(st.lists(st.sampled_from(PIECES), max_size=4).map("".join))
    after = before[:at] + insert + before[at + cut :]
    assert incremental(before, after, len(HEAD), 4) == full(after, len(HEAD), 4)


def big_document(sections: int) -> str:
    parts = [HEAD]
    for i in range(sections):
        parts.append(f"::instruction::\n### Q\nWhat is {i}?\n### A\nIt is {i}.\n\n" if i % 2 else f"::prose::\nParagraph {i}.\n\n")
    return "".join(parts)


@pytest.mark.parametrize("edit", [
    lambda t: t.replace("Paragraph 10.", "Paragraph ten, edited."),  # same lines, longer
    lambda t: t.replace("Paragraph 10.", "Paragraph 10.\nA new line.\nAnother."),  # more lines
    lambda t: t.replace("::prose::\nParagraph 10.\n\n", ""),  # a section removed
    lambda t: t.replace("::prose::\nParagraph 10.", "Paragraph 10."),  # a fence removed: merges sections
    lambda t: t.replace("Paragraph 10.", "```\nunclosed"),  # an unclosed code block: the error
    lambda t: t + "::prose::\nappended\n",
    lambda t: t.replace(HEAD, HEAD + "Preamble.\n"),
])
def test_typical_edits_of_a_large_document(edit):
    before = big_document(200)
    after = edit(before)
    assert incremental(before, after, len(HEAD), 4) == full(after, len(HEAD), 4)


def test_only_the_edited_span_is_parsed(monkeypatch):
    before = big_document(400)
    after = before.replace("Paragraph 100.", "Paragraph one hundred.")
    memo.invalidate("document.body")
    body.split_body(PATH, before, len(HEAD), 4)
    parsed = []
    real = body.parser()
    monkeypatch.setattr(body, "parser", lambda: type("P", (), {"parse": lambda self, text, start: parsed.append(text) or real.parse(text, start=start)})())
    body.split_body(PATH, after, len(HEAD), 4)
    memo.invalidate("document.body")
    assert len(parsed) == 1 and "Paragraph one hundred." in parsed[0] and len(parsed[0]) < 200
