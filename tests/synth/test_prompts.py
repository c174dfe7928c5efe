"""What a teacher is asked: chunking, the budget per strategy, and the shown format."""

from __future__ import annotations

from dlmbuild.synth.pairs import parse_pairs
from dlmbuild.synth.prompts import EXAMPLE_TEXT, chunks, plan_requests, render_user, split_budget


def test_both_splits_the_budget_extraction_takes_the_odd_one():
    assert split_budget("both", 5) == [("extraction", 3), ("expansion", 2)]
    assert split_budget("both", 1) == [("extraction", 1)]
    assert split_budget("expansion", 4) == [("expansion", 4)]


def test_short_text_is_one_chunk_and_long_text_is_cut_at_paragraphs_then_sentences():
    assert chunks("One paragraph.\n\nAnother one.") == ["One paragraph.\n\nAnother one."]
    paragraph = " ".join(f"Sentence number {i} says a thing." for i in range(200))
    pieces = chunks(paragraph + "\n\n" + paragraph, limit=500)
    assert all(len(p) <= 500 for p in pieces) and len(pieces) > 10
    assert all(p.endswith(".") for p in pieces)
    assert " ".join(" ".join(pieces).split()) == " ".join((paragraph + " " + paragraph).split())


def test_requests_follow_document_order_and_show_the_example_in_the_parsed_format():
    requests = plan_requests([("s1", "Alpha is red."), ("s2", "Beta is blue.")], "both", 3)
    assert [(r.section, r.strategy, r.wanted) for r in requests] == [
        ("s1", "extraction", 2), ("s1", "expansion", 1), ("s2", "extraction", 2), ("s2", "expansion", 1)]
    user = render_user("Alpha is red.", "extraction", 3)
    assert user.index(EXAMPLE_TEXT) < user.index("Alpha is red.") and user.endswith("Write 3 questions that the text answers directly, each followed by its answer.")
    example = user[user.index("Q:"): user.index("\n\nText:\nAlpha")]
    assert len(parse_pairs(example)) == 2  # the format shown is the format parsed
