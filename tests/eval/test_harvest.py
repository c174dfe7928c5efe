"""Harvest planning and lossless writes, without a model: which probes become sections, where
they go, and that every other byte (CRLF, BOM included) survives apply and revert."""

from __future__ import annotations

import hashlib

import pytest

from dlmbuild.document.parse import parse_document
from dlmbuild.errors import UsageError
from dlmbuild.eval.harvest import (
    check_report_matches, check_unchanged, harvest_editor, harvested_sections, place, plan_harvest, reverted_text,
    write_text,
)
from dlmbuild.eval.probes import Expected, Probe
from dlmbuild.eval.report import build_report
from tests.helpers import DLM_ID

BODY = """# Wendlecombe

Wendlecombe was founded in 1614 by Aldous Fenn, a salt merchant.

::instruction::
### Q
Who founded Wendlecombe?
### A
Aldous Fenn.

::prose::
The church of St Corvel was built in 1702. Its bell is called Old Marrow.
"""


def report_for(path, rows, adapter="default") -> dict:
    """A report whose adapter failed every row; rows are (line, question, answer or None)."""
    probes = [Probe(line, "trained", q, Expected(regex="x"), a) for line, q, a in rows]
    n = len(probes)
    return build_report(dlm_id=DLM_ID, document=str(path), document_sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
                        probes_file="p.tsv", adapter=adapter, adapter_version="v0001", base="b", max_new_tokens=8,
                        probes=probes, answers={"adapter": ["?"] * n}, passed={"adapter": [False] * n})


def apply(path, report):
    doc = parse_document(path)
    plan = plan_harvest(doc, report, "r.json")
    return plan, write_text(doc, harvest_editor(doc, plan).render())


def test_failed_probes_with_answers_become_sections_after_the_prose_they_are_about(write_doc):
    path = write_doc(BODY)
    original = path.read_bytes()
    report = report_for(path, [(1, "What is the bell of St Corvel called?", "Old Marrow"),
                               (2, "  who FOUNDED   wendlecombe? ", "Aldous Fenn"),
                               (3, "When did the railway come?", None),
                               (4, "What colour is the sky over the moor?", "grey")])
    report["probes"].append({**report["probes"][0], "line": 5, "results": {"adapter": {"text": "Old Marrow", "pass": True}}})
    plan, edited = apply(path, report)
    assert plan.summary() == "added 2, skipped 1 already in the document, 1 without a reference answer"
    assert [h.line for h in plan.added] == [1, 4] and plan.already_present == [2] and plan.without_answer == [3]
    text = path.read_text()
    church = text.index("Old Marrow.\n")
    first = text.index('::instruction::\n<!-- auto-harvest report="r.json" probe="1" -->\n### Q\nWhat is the bell of St Corvel called?\n\n### A\nOld Marrow\n')
    last = text.index('::instruction::\n<!-- auto-harvest report="r.json" probe="4" -->\n### Q\nWhat colour is the sky over the moor?\n\n### A\ngrey\n')
    assert church < first < last  # the bell fact follows its prose; the unplaced one goes last
    harvested = harvested_sections(edited)
    assert [dict(s.provenance.fields) for s in harvested] == [{"report": "r.json", "probe": "1"}, {"report": "r.json", "probe": "4"}]
    assert harvested[0].pairs[0].answer == "Old Marrow"
    assert reverted_text(edited, harvested).encode() == original


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("bom", [False, True])
def test_apply_then_revert_gives_back_the_original_bytes(write_doc, newline, bom):
    path = write_doc(BODY, newline=newline, bom=bom)
    original = path.read_bytes()
    _plan, edited = apply(path, report_for(path, [(7, "What did the founder trade?", "a salt merchant"),
                                                  (8, "Unrelated question here?", "zzz")]))
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") == bom
    inserted = [s for s in harvested_sections(edited)]
    assert len(inserted) == 2
    # Cutting the inserted spans (and the one blank line added before an appended section)
    # out of the new bytes leaves exactly the original.
    text = edited.text
    assert text.index("salt merchant.") < inserted[0].start < text.index("Who founded Wendlecombe?")  # after its prose
    kept = text[: inserted[0].start] + text[inserted[0].end : inserted[1].start - len(newline)]
    assert ((b"\xef\xbb\xbf" if bom else b"") + kept.encode()) == original
    for line in text[inserted[0].start : inserted[1].end].splitlines(keepends=True):
        assert line.endswith(newline)
    assert write_text(edited, reverted_text(edited, inserted)).source.to_bytes() == original
    assert path.read_bytes() == original


def test_revert_can_keep_sections_from_other_reports(write_doc):
    path = write_doc(BODY)
    doc = parse_document(path)
    one = plan_harvest(doc, report_for(path, [(1, "First harvested?", "one")]), "a.json")
    two = plan_harvest(doc, report_for(path, [(2, "Second harvested?", "two")]), "b.json")
    editor = harvest_editor(doc, one)
    for item in two.added:
        editor.add_section(item.draft, after=item.after)
    edited = write_text(doc, editor.render())
    assert [s.pairs[0].question for s in harvested_sections(edited, "b.json")] == ["Second harvested?"]
    text = reverted_text(edited, harvested_sections(edited, "b.json"))
    assert "First harvested?" in text and "Second harvested?" not in text


def test_several_adapters_route_to_the_reports_adapter(write_doc):
    path = write_doc(BODY, "training:\n  adapters: [facts, tone]\n")
    _plan, edited = apply(path, report_for(path, [(2, "Who rang the bell?", "nobody")], adapter="tone"))
    (section,) = harvested_sections(edited)
    assert section.adapter == "tone" and section.adapters == ("tone",)
    assert '::instruction#tone::\n<!-- auto-harvest report="r.json" probe="2" -->' in path.read_text()


def test_a_report_for_an_undeclared_adapter_is_refused(write_doc):
    path = write_doc(BODY)
    with pytest.raises(UsageError, match=r"the report's adapter 'tone' is not declared by doc.dlm \(default\)"):
        plan_harvest(parse_document(path), report_for(path, [(1, "q?", "a")], adapter="tone"), "r.json")


def test_placement_prefers_the_section_holding_the_answer_then_word_overlap(write_doc):
    doc = parse_document(write_doc("Salt merchants traded salt.\n\n::prose::\nThe salt merchant Aldous Fenn.\n\n::prose::\nNothing.\n"))
    prose = list(doc.sections)
    assert place(prose, "Who was the salt merchant?", "Aldous Fenn") == prose[1].id
    assert place(prose, "Which salt merchants traded?", "nobody knows") == prose[0].id  # overlap 3 words, earlier wins ties
    assert place(prose, "What is the weather?", "sunny") is None


def test_a_report_from_another_document_or_an_older_text_is_refused(write_doc, tmp_path):
    path = write_doc(BODY)
    doc = parse_document(path)
    report = report_for(path, [(1, "q?", "a")])
    check_report_matches(doc, report, tmp_path / "r.json")
    check_unchanged(path.read_bytes(), report, path)
    other = dict(report, dlm_id="01HYYYYYYYYYYYYYYYYYYYYYYY")
    with pytest.raises(UsageError) as info:
        check_report_matches(doc, other, tmp_path / "r.json")
    assert str(info.value) == (f"{tmp_path / 'r.json'}: report is about document 01HYYYYYYYYYYYYYYYYYYYYYYY, "
                               f"but doc.dlm is {DLM_ID}")
    with pytest.raises(UsageError) as info:
        check_unchanged(path.read_bytes() + b"\n", report, path)
    assert str(info.value) == (f"{path}: the document changed since the report was written (its sha256 is not the report's "
                               "document_sha256); run 'dlm eval' on it again and harvest from the new report")
