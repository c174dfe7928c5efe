"""What a teacher is asked: one request per chunk of prose and strategy.

Sections are cut into chunks of at most ``CHUNK_CHARS`` characters at blank lines and headings
(then sentence ends), so a 30,000-word source file fits any teacher and each request is about
one paragraph-sized passage; ``--per-section N`` asks for N pairs per chunk.

Two ways of asking, chosen by what the teacher can do:

- **chat** (every teacher): the passage in a chat turn, after one worked example (a short
  passage and two pairs in the ``Q:``/``A:`` format the parser reads). Capable models write
  question and answer.
- **statement** (teachers that can continue raw text: the local transformers teachers). A
  135M base cannot be trusted to write answers: asked for pairs, SmolLM2-135M invents facts
  ("the on-call rota is a product of the 2019-2020 season"). It can, continuing a few-shot list
  of ``Statement:``/``Question:`` lines, write the question a sentence answers. So the answer
  is the document's own sentence, grounded by construction, and the teacher only writes the
  question. The N sentences of a chunk that carry the most specifics (numbers, names, code)
  are chosen.

The examples are about an invented lighthouse; a question that borrows the example's words
(``EXAMPLE_WORDS``) was copied from it and is dropped by the parser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

STRATEGIES = ("extraction", "expansion", "both")
CHUNK_CHARS = 800

SYSTEM = ("You write question and answer pairs for a study guide. Use only facts stated in the text you "
          "are given. Answer each question in one short sentence. Write every pair as a line starting "
          "with 'Q:' and a line starting with 'A:'.")

EXAMPLE_TEXT = ("The Harwick Point lighthouse was built in 1871 by the engineer Mabel Corrin. Its lamp can be "
                "seen from 22 nautical miles away, and the keeper's log is kept in the town museum.")
EXAMPLE_WORDS = frozenset({"harwick", "lighthouse", "corrin", "mabel", "nautical", "keeper", "museum", "lamp"})
EXAMPLE_PAIRS = {
    "extraction": (("Who built the Harwick Point lighthouse?", "The engineer Mabel Corrin built it."),
                   ("How far away can the Harwick Point lamp be seen?", "It can be seen from 22 nautical miles away.")),
    "expansion": (("Where would I go to read the old records of the Harwick Point keepers?",
                   "The keeper's log is kept in the town museum."),
                  ("How old is the Harwick Point lighthouse?", "It was built in 1871.")),
}
ASK = {
    "extraction": "Write {n} questions that the text answers directly, each followed by its answer.",
    "expansion": ("Write {n} questions a curious reader might ask, worded differently from the text, that the "
                  "text still answers, each followed by its answer."),
}
# Statement mode: extraction questions keep the statement's words, expansion ones reword it.
STATEMENT_SHOTS = {
    "extraction": (("The Harwick Point lighthouse was built in 1871 by the engineer Mabel Corrin.",
                    "Who built the Harwick Point lighthouse?"),
                   ("Its lamp can be seen from 22 nautical miles away.", "How far away can the Harwick Point lamp be seen?"),
                   ("The keeper's log is kept in the town museum.", "Where is the keeper's log of Harwick Point kept?")),
    "expansion": (("The Harwick Point lighthouse was built in 1871 by the engineer Mabel Corrin.",
                   "Which engineer was responsible for constructing the Harwick Point light?"),
                  ("Its lamp can be seen from 22 nautical miles away.", "From what distance are ships able to spot the Harwick Point light?"),
                  ("The keeper's log is kept in the town museum.", "Where can visitors read the Harwick Point keepers' records?")),
}
STATEMENT_SYSTEM = "For each statement, write the question it answers."


@dataclass(frozen=True)
class Request:
    """One teacher call: which section (and chunk of it) it is about, and what is asked. In
    statement mode ``statement`` is the answer and ``prefix`` the raw text to continue."""

    section: str  # the source section's id
    chunk: int
    strategy: str  # extraction | expansion
    wanted: int
    system: str
    user: str
    passage: str  # the chunk's text (the judge reads it as the grounding context)
    statement: str | None = None
    prefix: str | None = None


def split_budget(strategy: str, per_section: int) -> list[tuple[str, int]]:
    """``both`` halves the per-section budget (extraction takes the odd one)."""
    if strategy == "both":
        first = (per_section + 1) // 2
        return [(s, n) for s, n in (("extraction", first), ("expansion", per_section - first)) if n > 0]
    return [(strategy, per_section)]


def chunks(text: str, limit: int = CHUNK_CHARS) -> list[str]:
    """``text`` cut into pieces of at most ``limit`` characters at blank lines and before
    headings, then at sentence ends, then anywhere (a sentence longer than ``limit``)."""
    pieces: list[str] = []
    for para in re.split(r"\n\s*\n|\n(?=#{1,6} )", text.strip()):
        para = para.strip()
        while len(para) > limit:
            cut = max(para.rfind(". ", 0, limit), para.rfind("\n", 0, limit))
            cut = cut + 1 if cut > 0 else limit
            pieces.append(para[:cut].strip())
            para = para[cut:].strip()
        if para:
            pieces.append(para)
    merged: list[str] = []
    for piece in pieces:
        if merged and len(merged[-1]) + 2 + len(piece) <= limit and not piece.startswith("#"):
            merged[-1] = f"{merged[-1]}\n\n{piece}"
        else:
            merged.append(piece)
    return merged


def sentences(passage: str) -> list[str]:
    """The passage's sentences of four words or more, headings and list markers left out."""
    lines = [re.sub(r"^\s*(?:[-*+]|\d+[.)])\s+", "", line) for line in passage.splitlines() if not line.lstrip().startswith("#")]
    flat = " ".join(" ".join(lines).split())
    return [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z`\"'(])", flat) if len(s.split()) >= 4]


def specifics(sentence: str) -> int:
    """How many specifics a sentence states: numbers, capitalised names past its first word,
    code spans. The statement mode asks about the sentences that state the most."""
    words = sentence.split()
    names = sum(1 for w in words[1:] if w[:1].isupper())
    return len(re.findall(r"\d+", sentence)) + names + sentence.count("`") // 2


def render_user(passage: str, strategy: str, n: int) -> str:
    example = "\n".join(f"Q: {q}\nA: {a}" for q, a in EXAMPLE_PAIRS[strategy])
    return (f"Text:\n{EXAMPLE_TEXT}\n\n{ASK[strategy].format(n=2)}\n{example}\n\n"
            f"Text:\n{passage}\n\n{ASK[strategy].format(n=n)}")


def render_statement(statement: str, strategy: str) -> str:
    shots = "".join(f"Statement: {s}\nQuestion: {q}\n\n" for s, q in STATEMENT_SHOTS[strategy])
    return f"{STATEMENT_SYSTEM}\n\n{shots}Statement: {statement}\nQuestion:"


def plan_requests(sections: list[tuple[str, str]], strategy: str, per_section: int, *, statements: bool = False) -> list[Request]:
    """Every request for ``sections`` (``(id, text)`` pairs, in document order): one per chunk
    and strategy, or in statement mode one per chosen sentence and strategy."""
    requests = []
    for section_id, text in sections:
        for index, passage in enumerate(chunks(text)):
            if statements:
                found = sentences(passage)
                chosen = sorted(sorted(range(len(found)), key=lambda i: (-specifics(found[i]), i))[:per_section])
                names = [name for name, n in split_budget(strategy, per_section) for _ in range(n)]
                for i, name in zip(chosen, names):  # 'both': the first sentences extraction, the rest expansion
                    requests.append(Request(section_id, index, name, 1, STATEMENT_SYSTEM, found[i], passage,
                                            statement=found[i], prefix=render_statement(found[i], name)))
                continue
            for name, n in split_budget(strategy, per_section):
                requests.append(Request(section_id, index, name, n, SYSTEM, render_user(passage, name, n), passage))
    return requests
