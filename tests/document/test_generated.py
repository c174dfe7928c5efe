"""Generated sections found by provenance, written back and taken out losslessly: the shared
machinery of harvest, synth and preference mining."""

from __future__ import annotations

from dlmbuild.document.edit import DocumentEditor
from dlmbuild.document.generated import reverted_text, sections_with_provenance, unified_diff, write_text
from dlmbuild.document.parse import parse_document
from dlmbuild.document.render import SectionDraft
from dlmbuild.document.sections import Provenance, SectionType

BODY = "Some prose.\n\n::instruction::\n### Q\nq?\n### A\na.\n"


def test_find_write_diff_and_revert(write_doc):
    path = write_doc(BODY)
    original = path.read_bytes()
    doc = parse_document(path)
    editor = DocumentEditor(doc)
    for run in ("r1", "r2"):
        editor.add_section(SectionDraft(SectionType.INSTRUCTION, provenance=Provenance("auto-synth", (("run", run),)),
                                        pairs=((f"question {run}?", "answer."),)), after=doc.sections[0].id)
    text = editor.render()
    diff = unified_diff(doc, text, "synthesized")
    assert diff.count("\n+<!-- auto-synth") == 2 and f"{path} (synthesized)" in diff
    edited = write_text(doc, text)
    assert [s.provenance.as_dict()["run"] for s in sections_with_provenance(edited, "auto-synth")] == ["r1", "r2"]
    assert len(sections_with_provenance(edited, "auto-synth", run="r2")) == 1
    assert sections_with_provenance(edited, "auto-mined") == []
    write_text(edited, reverted_text(edited, sections_with_provenance(edited, "auto-synth")))
    assert path.read_bytes() == original
    assert unified_diff(doc, doc.text, "x") == ""
