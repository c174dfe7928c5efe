"""Synthesized pairs become ``::instruction::`` sections, and ``revert`` takes them out again.

One section per (source section, strategy), placed right after its source prose section (pairs
from an ingested source file go at the end), each opening with
``<!-- auto-synth teacher="base" strategy="extraction" source="<section id>" run="<run>" -->``.
The write is lossless (every other byte stays) and atomic; ``revert`` removes exactly the
sections with ``auto-synth`` provenance (of one run, if asked), so hand-written ones stay byte
for byte.
"""

from __future__ import annotations

from dlmbuild.document.edit import DocumentEditor
from dlmbuild.document.generated import reverted_text, sections_with_provenance
from dlmbuild.document.parse import Document
from dlmbuild.document.render import SectionDraft
from dlmbuild.document.sections import Provenance, Section, SectionType
from dlmbuild.synth.stage import Stage

KIND = "auto-synth"


def synth_drafts(stage: Stage, route: str | None) -> list[tuple[SectionDraft, str | None]]:
    """``(draft, after)`` per (source section, strategy), in the order the pairs were staged."""
    groups: dict[tuple[str, str], list] = {}
    for pair in stage.pairs:
        groups.setdefault((pair.section, pair.strategy), []).append(pair)
    drafts = []
    for (section, strategy), pairs in groups.items():
        fields = [("teacher", stage.teacher), ("strategy", strategy), ("source", pairs[0].source or section),
                  ("run", stage.run)]
        draft = SectionDraft(SectionType.INSTRUCTION, adapter=route, provenance=Provenance(KIND, tuple(fields)),
                             pairs=tuple((p.question, p.answer) for p in pairs))
        drafts.append((draft, pairs[0].after))
    return drafts


def applied_text(doc: Document, stage: Stage, route: str | None) -> str:
    editor = DocumentEditor(doc)
    for draft, after in synth_drafts(stage, route):
        editor.add_section(draft, after=after)
    return editor.render()


def synthesized_sections(doc: Document, run: str | None = None) -> list[Section]:
    return sections_with_provenance(doc, KIND, **({} if run is None else {"run": run}))


def revert_text(doc: Document, run: str | None = None) -> tuple[str, int]:
    """The document without its synthesized sections (of ``run`` only, if given), and how many."""
    sections = synthesized_sections(doc, run)
    return reverted_text(doc, sections), len(sections)
