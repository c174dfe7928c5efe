"""Replies parsed into pairs, tolerantly; a reply with no complete pair yields none."""

from __future__ import annotations

from dlmbuild.synth.pairs import parse_pairs


def test_q_a_lines_numbered_bold_and_multiline_answers():
    reply = ("Sure! Here are the pairs:\n1. Q: What port do clients use?\nA: Port 7461.\n\n"
             "**Question 2:** Who leads the rota?\n**Answer:** Odalys Venkmar leads it,\nevery week.\n"
             "- Q: Where are logs searched?\n- A: In Siltview.\n")
    assert parse_pairs(reply) == [("What port do clients use?", "Port 7461."),
                                  ("Who leads the rota?", "Odalys Venkmar leads it, every week."),
                                  ("Where are logs searched?", "In Siltview.")]


def test_json_lists_are_read_too():
    assert parse_pairs('pairs: [{"question": "Q1?", "answer": "A1."}, {"q": "Q2?", "a": "A2."}, 3]') == [
        ("Q1?", "A1."), ("Q2?", "A2.")]


def test_incomplete_or_empty_replies_give_nothing():
    assert parse_pairs("") == []
    assert parse_pairs("The answer to this question is: the lighthouse.") == []
    assert parse_pairs("Q: a question without an answer?") == []
    assert parse_pairs("Q: one?\nA:\nQ: two?\nA: Two.") == [("two?", "Two.")]
    assert parse_pairs("Q: " + "x" * 400 + "\nA: too long a question") == []
