"""Mined triples become ``::preference::`` sections right after the instruction section their
prompt came from, each opening with ``<!-- auto-mined judge="self" source="<id>" run="<run>" -->``;
``revert`` removes exactly those sections. Lossless and atomic, through
``dlmbuild.document.generated``."""

from __future__ import annotations

from dlmbuild.document.edit import DocumentEditor
from dlmbuild.document.generated import reverted_text, sections_with_provenance
from dlmbuild.document.parse import Document
from dlmbuild.document.render import SectionDraft
from dlmbuild.document.sections import Provenance, Section, SectionType
from dlmbuild.mine.stage import MineStage

KIND = "auto-mined"


def applied_text(doc: Document, stage: MineStage, route: str | None) -> str:
    groups: dict[str, list] = {}
    for triple in stage.triples:
        groups.setdefault(triple.section, []).append(triple)
    editor = DocumentEditor(doc)
    known = {s.id for s in doc.sections}
    for section, triples in groups.items():
        provenance = Provenance(KIND, (("judge", stage.judge), ("source", section), ("run", stage.run)))
        draft = SectionDraft(SectionType.PREFERENCE, adapter=route, provenance=provenance,
                             triples=tuple((t.prompt, t.chosen, t.rejected) for t in triples))
        editor.add_section(draft, after=section if section in known else None)
    return editor.render()


def mined_sections(doc: Document, run: str | None = None) -> list[Section]:
    return sections_with_provenance(doc, KIND, **({} if run is None else {"run": run}))


def revert_text(doc: Document, run: str | None = None) -> tuple[str, int]:
    sections = mined_sections(doc, run)
    return reverted_text(doc, sections), len(sections)
