"""Near-duplicate questions: against the document and within a batch, earlier ones win."""

from __future__ import annotations

from dlmbuild.synth.dedup import similarity, split_duplicates


def test_rewordings_are_duplicates_and_different_facts_are_not():
    assert similarity("What port do Ferrowind clients connect on?", "what port do ferrowind clients connect on") == 100
    assert similarity("What port do Ferrowind clients connect on?", "Which port do Ferrowind clients connect on?") >= 88
    assert similarity("What port do clients connect on?", "Who leads the on-call rota?") < 50


def test_split_keeps_the_first_of_each_and_drops_what_the_document_asks():
    questions = ["What port do clients use?", "Who leads the rota?", "what port do clients use", "Which team wrote it?", "??"]
    kept, dropped = split_duplicates(questions, existing=["Which team wrote it?"])
    assert kept == [0, 1] and dropped == [2, 3, 4]
