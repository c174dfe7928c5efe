"""``dlm harvest``: failed probes with a reference answer become Q/A sections of the document.

Planning is pure (a parsed document and a report in, drafts out), so it is tested without a
model. Each new ``::instruction::`` section starts with ``<!-- auto-harvest report="R"
probe="LINE" -->`` and goes right after the prose section it is about: the first prose section
that contains the reference answer (case and spacing ignored), the one sharing most content
words with the question and answer among those, or, when no section contains the answer, the
one sharing most words if at least ``MIN_SHARED`` words and ``MIN_SHARE`` of the probe's words;
otherwise at the end. Ties go to the earlier section, so the same inputs always give the same
document.

Writes go through the lossless ``DocumentEditor``: every byte outside the inserted sections is
kept. ``revert`` removes sections by their provenance and, for sections appended at the end,
the blank line the insertion put before them, so harvest then revert gives back the original
bytes of any document whose last line ends with a line ending.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from dlmbuild.document import generated
from dlmbuild.document.edit import DocumentEditor
from dlmbuild.document.generated import reverted_text, sections_with_provenance, write_text
from dlmbuild.document.parse import Document
from dlmbuild.document.render import SectionDraft
from dlmbuild.document.sections import Provenance, Section, SectionType
from dlmbuild.errors import Location, UsageError

__all__ = ["reverted_text", "write_text"]  # re-exported: dlm harvest's CLI writes through them

KIND = "auto-harvest"
MIN_SHARED = 2  # content words a prose section must share with a probe to claim it ...
MIN_SHARE = 0.3  # ... and that share of the probe's distinct content words
STOPWORDS = frozenset(
    "a an and are as at be by did do does for from had has have how in into is it its of on or so that the their "
    "then there these this to was were what when where which who whom whose why will with you your".split()
)


@dataclass(frozen=True)
class Harvested:
    """One probe turned into a section: the draft and the prose section it follows (None: end)."""

    line: int
    question: str
    draft: SectionDraft
    after: str | None


@dataclass
class HarvestPlan:
    """What harvest would add, and what it passed over and why."""

    added: list[Harvested] = field(default_factory=list)
    already_present: list[int] = field(default_factory=list)  # probe lines whose question is asked already
    without_answer: list[int] = field(default_factory=list)  # failed probes with no reference answer

    def summary(self) -> str:
        return (f"added {len(self.added)}, skipped {len(self.already_present)} already in the document, "
                f"{len(self.without_answer)} without a reference answer")


def question_key(text: str) -> str:
    """A question compared ignoring case and whitespace."""
    return " ".join(text.split()).casefold()


def content_words(text: str) -> set[str]:
    """Lowercase words that carry meaning: no stopwords, no single letters (digits count)."""
    return {w for w in re.findall(r"\w+", text.casefold()) if w not in STOPWORDS and (len(w) > 1 or w.isdigit())}


def check_report_matches(doc: Document, report: dict, report_path: Path) -> None:
    """Refuse a report about another document (different ``dlm_id``)."""
    if report["dlm_id"] != doc.config.dlm_id:
        raise UsageError(f"report is about document {report['dlm_id']}, but {doc.path.name} is {doc.config.dlm_id}",
                         Location(report_path))


def check_unchanged(doc_bytes: bytes, report: dict, doc_path: Path) -> None:
    """Refuse to write into a document edited since the report: its answers may be stale."""
    import hashlib

    if hashlib.sha256(doc_bytes).hexdigest() != report["document_sha256"]:
        raise UsageError("the document changed since the report was written (its sha256 is not the report's "
                         "document_sha256); run 'dlm eval' on it again and harvest from the new report", Location(doc_path))


def plan_harvest(doc: Document, report: dict, report_name: str) -> HarvestPlan:
    """The sections harvest would add for ``report`` (a ``read_report`` dict)."""
    adapter = report["adapter"]
    names = doc.config.training.adapter_names
    if adapter not in names:
        raise UsageError(f"the report's adapter '{adapter}' is not declared by {doc.path.name} ({', '.join(names)})")
    route = adapter if len(names) > 1 else None
    asked = {question_key(pair.question) for section in doc.sections for pair in section.pairs}
    prose = [s for s in doc.sections if s.type is SectionType.PROSE]
    plan = HarvestPlan()
    for probe in report["probes"]:
        if probe["results"].get("adapter", {}).get("pass", True):
            continue
        if not probe.get("answer"):
            plan.without_answer.append(probe["line"])
            continue
        key = question_key(probe["question"])
        if key in asked:
            plan.already_present.append(probe["line"])
            continue
        asked.add(key)
        provenance = Provenance(KIND, (("report", report_name), ("probe", str(probe["line"]))))
        draft = SectionDraft(SectionType.INSTRUCTION, adapter=route, provenance=provenance,
                             pairs=((probe["question"].strip(), probe["answer"].strip()),))
        plan.added.append(Harvested(probe["line"], probe["question"], draft, place(prose, probe["question"], probe["answer"])))
    return plan


def place(prose: list[Section], question: str, answer: str) -> str | None:
    """The id of the prose section a Q/A pair is about, or None (append at the end)."""
    wanted = content_words(question + " " + answer)
    needle = " ".join(answer.split()).casefold()
    best: tuple[int, int, int] | None = None  # (contains answer, shared words, -position)
    chosen = None
    for position, section in enumerate(prose):
        contains = int(bool(needle) and needle in " ".join(section.text.split()).casefold())
        shared = len(wanted & content_words(section.text))
        if not contains and (shared < MIN_SHARED or shared < MIN_SHARE * len(wanted)):
            continue
        score = (contains, shared, -position)
        if best is None or score > best:
            best, chosen = score, section.id
    return chosen


def harvest_editor(doc: Document, plan: HarvestPlan) -> DocumentEditor:
    """An editor holding the planned insertions (``render()`` shows, ``write()`` applies)."""
    editor = DocumentEditor(doc)
    for item in plan.added:
        editor.add_section(item.draft, after=item.after)
    return editor


def harvested_sections(doc: Document, report_name: str | None = None) -> list[Section]:
    """Sections with ``auto-harvest`` provenance (only those naming ``report_name``, if given)."""
    return sections_with_provenance(doc, KIND, **({} if report_name is None else {"report": report_name}))


def unified_diff(doc: Document, new_text: str, label: str = "harvested") -> str:
    """A unified diff of the document, old to new (empty when nothing changes)."""
    return generated.unified_diff(doc, new_text, label)
