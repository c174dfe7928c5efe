"""dlmbuild.gate.rows: the labelled texts the gate learns from, read from real parsed documents.

A prompt to a lane looks like the lane's own rows, so questions and preference prompts are kept
as they are, prose is cut into question-sized passages, and a shared row carries every adapter it
trains (it teaches mixing, not picking)."""

from __future__ import annotations

from dlmbuild.document.parse import parse_bytes
from dlmbuild.document.sections import Section, SectionType
from dlmbuild.gate.rows import (MAX_PASSAGES_PER_SECTION, MIN_PASSAGE_CHARS, PASSAGE_CHARS, GateRow, gate_rows,
                                passages, rows_by_adapter, section_rows)
from tests.helpers import TWO_ADAPTERS, document

SHARED = "The Marrowgate ferry crosses Lake Orrin every forty minutes."
BODY = f"""{SHARED}

::instruction#knowledge::
### Q
Who is the captain of the ferry?
### A
Bettany Strook.

### Q
How many passengers fit?
### A
Sixty-four.

::preference#tone::
### Prompt
Greet a passenger boarding late.
### Chosen
Welcome aboard, friend!
### Rejected
You are late.

::prose#tone::
Always answer warmly and briefly, as a ferry hand would on a busy morning.
"""


def sections(body: str = BODY, extra: str = TWO_ADAPTERS):
    return parse_bytes("doc.dlm", document(body, extra).encode()).sections


def para(letter: str, size: int) -> str:
    return (letter * size)[:size]


# -- passages ---------------------------------------------------------------------------------

def test_short_paragraphs_are_joined_up_to_the_passage_size():
    """Two paragraphs that fit together are one passage; a third that would overflow starts the next."""
    a, b, c = para("a", 250), para("b", 250), para("c", 250)
    assert passages(f"{a}\n\n{b}\n\n{c}") == [f"{a}\n\n{b}", c]


def test_a_long_paragraph_is_cut_at_the_passage_size():
    """No passage is longer than PASSAGE_CHARS, and nothing of the text is lost."""
    text = para("x", 2 * PASSAGE_CHARS + 100)
    got = passages(text)
    assert [len(p) for p in got] == [PASSAGE_CHARS, PASSAGE_CHARS, 100]
    assert "".join(got) == text


def test_headings_and_rules_are_dropped_but_real_text_kept():
    """Paragraphs shorter than MIN_PASSAGE_CHARS, alone, carry no lane."""
    short = "# Tickets"
    assert len(short) < MIN_PASSAGE_CHARS
    assert passages(short) == []
    assert passages("---") == []
    assert passages(para("t", MIN_PASSAGE_CHARS)) == [para("t", MIN_PASSAGE_CHARS)]


def test_crlf_and_blank_runs_split_like_lf():
    """A CRLF file gives the same passages as its LF twin (the same rows on every platform)."""
    a, b = para("a", 400), para("b", 400)
    assert passages(f"{a}\r\n\r\n\r\n{b}\r\n") == passages(f"{a}\n\n{b}\n") == [a, b]


def test_a_huge_section_keeps_evenly_spaced_passages_from_its_whole_length():
    """A big source file must not drown the questions: capped, and spread over the whole file."""
    paragraphs = [f"{i:04d} " + "w" * (PASSAGE_CHARS - 10) for i in range(4 * MAX_PASSAGES_PER_SECTION)]
    got = passages("\n\n".join(paragraphs))
    assert len(got) == MAX_PASSAGES_PER_SECTION
    numbers = [int(p[:4]) for p in got]
    assert numbers == sorted(numbers) and numbers[0] == 0
    assert numbers[-1] >= 3 * MAX_PASSAGES_PER_SECTION  # reaches the last quarter of the file


# -- section_rows and gate_rows ----------------------------------------------------------------

def test_each_section_type_gives_its_prompt_like_texts_labelled_with_its_adapters():
    rows = [section_rows(s) for s in sections()]
    assert rows == [
        [GateRow(SHARED, ("knowledge", "tone"))],  # unsuffixed prose trains (and routes to) both
        [GateRow("Who is the captain of the ferry?", ("knowledge",)), GateRow("How many passengers fit?", ("knowledge",))],
        [GateRow("Greet a passenger boarding late.", ("tone",))],  # the prompt, never the answers
        [GateRow("Always answer warmly and briefly, as a ferry hand would on a busy morning.", ("tone",))],
    ]


def test_answers_and_chosen_or_rejected_texts_never_become_rows():
    """An answer is not what a user types; only questions and prompts route."""
    texts = {row.text for row in gate_rows(sections())}
    assert not texts & {"Bettany Strook.", "Sixty-four.", "Welcome aboard, friend!", "You are late."}


def test_media_sections_route_by_their_alt_text_or_transcript():
    image = Section(id="i", type=SectionType.IMAGE, text="", line=1, adapters=("tone",),
                    attrs=(("path", "cat.png"), ("alt", "  a ferry cat asleep on a coil of rope  ")))
    audio = Section(id="a", type=SectionType.AUDIO, text="", line=1, adapters=("knowledge",),
                    attrs=(("path", "hi.wav"), ("transcript", "the ferry leaves at noon")))
    assert section_rows(image) == [GateRow("a ferry cat asleep on a coil of rope", ("tone",))]
    assert section_rows(audio) == [GateRow("the ferry leaves at noon", ("knowledge",))]


def test_a_section_routed_nowhere_or_with_no_text_gives_no_rows():
    assert section_rows(Section(id="p", type=SectionType.PROSE, text=para("z", 100), line=1)) == []
    blank = Section(id="i", type=SectionType.IMAGE, text="", line=1, adapters=("tone",), attrs=(("path", "x.png"), ("alt", "  ")))
    assert section_rows(blank) == []


def test_an_exact_duplicate_is_one_row_but_the_same_text_in_another_lane_is_kept():
    """A question asked twice is one example; the same words routed elsewhere are a second label."""
    qa = "::instruction#{}::\n### Q\nWhat time is the last ferry?\n### A\nTen.\n\n"
    rows = gate_rows(sections(qa.format("knowledge") * 2 + qa.format("tone")))
    assert rows == [GateRow("What time is the last ferry?", ("knowledge",)), GateRow("What time is the last ferry?", ("tone",))]


def test_gate_rows_keep_document_order_across_sections():
    rows = gate_rows(sections())
    assert [r.text for r in rows] == [SHARED, "Who is the captain of the ferry?", "How many passengers fit?",
                                      "Greet a passenger boarding late.",
                                      "Always answer warmly and briefly, as a ferry hand would on a busy morning."]


def test_rows_by_adapter_counts_a_shared_row_for_each_of_its_adapters():
    rows = gate_rows(sections())
    assert rows_by_adapter(rows, ["knowledge", "tone"]) == {"knowledge": 3, "tone": 3}
    assert rows_by_adapter(rows, ["knowledge", "tone", "code"])["code"] == 0  # what :gate refuses on
