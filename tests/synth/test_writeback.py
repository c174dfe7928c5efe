"""Synthesized pairs into the document and out again, losslessly: placement after the source
section, provenance, routing, CRLF and BOM kept, revert giving back the original bytes."""

from __future__ import annotations

import pytest

from dlmbuild.document.generated import write_text
from dlmbuild.document.parse import parse_document
from dlmbuild.synth.stage import Stage, SynthPair
from dlmbuild.synth.writeback import applied_text, revert_text, synth_drafts, synthesized_sections
from tests.eval.test_harvest import BODY as HARVEST_BODY
from tests.helpers import TWO_ADAPTERS

BODY = HARVEST_BODY  # a prose section, a Q/A section, a second prose section


def stage_for(doc, pairs) -> Stage:
    return Stage("run1", "base", "sha", {}, [SynthPair(q, a, sid, strat, after=after, source=src)
                                              for q, a, sid, strat, after, src in pairs])


@pytest.mark.parametrize(("newline", "bom"), [("\n", False), ("\r\n", True)])
def test_apply_places_after_the_source_and_revert_restores_every_byte(write_doc, newline, bom):
    path = write_doc(BODY, newline=newline, bom=bom)
    original = path.read_bytes()
    doc = parse_document(path)
    first, church = [s.id for s in doc.sections if s.type.value == "prose"]
    stage = stage_for(doc, [("When was Wendlecombe founded?", "In 1614.", first, "extraction", first, None),
                            ("What is the bell called?", "Old Marrow.", church, "extraction", church, None),
                            ("Who was Aldous Fenn?", "A salt merchant.", first, "expansion", first, None),
                            ("What does the notes file say?", "It says hello.", "f1", "extraction", None, "notes/a.md")])
    edited = write_text(doc, applied_text(doc, stage, None))
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") == bom and (b"\r\n" in data) == (newline == "\r\n")
    text = data.decode("utf-8-sig")
    assert text.index("In 1614.") < text.index("Who founded Wendlecombe?") < text.index("Old Marrow.")
    assert text.rstrip().endswith("It says hello.")
    made = synthesized_sections(edited)
    assert [(s.provenance.as_dict()["strategy"], s.provenance.as_dict()["source"], len(s.pairs)) for s in made] == [
        ("extraction", first, 1), ("expansion", first, 1), ("extraction", church, 1), ("extraction", "notes/a.md", 1)]
    assert all(s.provenance.as_dict()["teacher"] == "base" and s.provenance.as_dict()["run"] == "run1" for s in made)
    reverted, count = revert_text(edited)
    assert count == 4
    write_text(edited, reverted)
    assert path.read_bytes() == original


def test_revert_of_one_run_keeps_the_others_and_hand_written_sections(write_doc):
    path = write_doc(BODY)
    doc = parse_document(path)
    first = doc.sections[0].id
    one = stage_for(doc, [("When was it founded?", "In 1614.", first, "extraction", first, None)])
    doc = write_text(doc, applied_text(doc, one, None))
    two = Stage("run2", "self", "sha", {}, [SynthPair("Who founded it?", "Aldous Fenn did.", first, "extraction", first)])
    doc = write_text(doc, applied_text(doc, two, None))
    text, count = revert_text(doc, "run1")
    assert count == 1 and "In 1614." not in text and "Aldous Fenn did." in text and "Who founded Wendlecombe?" in text


def test_pairs_for_a_lane_are_routed_to_it(write_doc):
    path = write_doc(BODY, TWO_ADAPTERS)
    doc = parse_document(path)
    first = doc.sections[0].id
    stage = stage_for(doc, [("When was it founded?", "In 1614.", first, "extraction", first, None)])
    (draft, after), = synth_drafts(stage, "tone")
    assert draft.adapter == "tone" and after == first
    edited = write_text(doc, applied_text(doc, stage, "tone"))
    assert synthesized_sections(edited)[0].adapters == ("tone",)
