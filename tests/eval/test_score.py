"""Scoring: regexes searched case-insensitively, lists as substrings, tallies by kind."""

from __future__ import annotations

from dlmbuild.eval.probes import Expected, Probe
from dlmbuild.eval.score import passes, summarize, tally


def probe(expected: Expected, kind: str = "trained", line: int = 1) -> Probe:
    return Probe(line, kind, "q?", expected)


def test_a_regex_is_searched_anywhere_ignoring_case():
    assert passes(probe(Expected(regex="old marrow")), "The bell is called Old Marrow.")
    assert passes(probe(Expected(regex=r"\b6\b|\bsix\b")), "It repeats SIX times")
    assert not passes(probe(Expected(regex=r"\b6\b")), "It repeats 16 times")
    assert not passes(probe(Expected(regex="aldous")), "")


def test_any_of_passes_on_any_substring_ignoring_case_and_treats_it_literally():
    expected = Expected(any_of=("Ash grey", "fjord"))
    assert passes(probe(expected), "It comes in ASH GREY and clay")
    assert passes(probe(expected), "fjords")
    assert not passes(probe(expected), "clay only")
    assert passes(probe(Expected(any_of=("3.4.1",))), "version 3.4.1")
    assert not passes(probe(Expected(any_of=("3.4.1",))), "version 3x4x1")


def test_tally_counts_per_kind_in_first_appearance_order_then_all():
    out = tally(["paraphrase", "trained", "paraphrase", "prose"], [True, False, False, True])
    assert list(out) == ["paraphrase", "trained", "prose", "all"]
    assert out["paraphrase"] == {"passed": 1, "total": 2, "score": 0.5}
    assert out["trained"] == {"passed": 0, "total": 1, "score": 0.0}
    assert out["all"] == {"passed": 2, "total": 4, "score": 0.5}


def test_summarize_tallies_each_system():
    probes = [probe(Expected(regex="a"), "trained", 1), probe(Expected(regex="b"), "prose", 2)]
    summary = summarize(probes, {"adapter": [True, True], "base": [False, True]})
    assert summary["adapter"]["all"]["score"] == 1.0
    assert summary["base"]["prose"] == {"passed": 1, "total": 1, "score": 1.0}
    assert summary["base"]["all"] == {"passed": 1, "total": 2, "score": 0.5}
