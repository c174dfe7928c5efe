"""Word error rate: normalisation and the edit count."""

from __future__ import annotations

from dlmbuild.speech.wer import edit_distance, wer, word_errors, words


def test_words_are_normalised():
    assert words("Kelvarro Tidemoor, the co-pilot's  DESK!") == ["kelvarro", "tidemoor", "the", "co-pilot's", "desk"]


def test_edits_count_substitutions_deletions_and_insertions():
    assert edit_distance(["a", "b", "c"], ["a", "x", "c", "d"]) == 2
    assert word_errors("Kelvarro Tidemoor opened the meeting.", "KELBARO TIDE MORE OPENED THE MEADING") == (4, 5)
    assert wer([("one two", "one two"), ("three four", "three")]) == 0.25
    assert wer([]) == 0.0
