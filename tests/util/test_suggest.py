"""dlmbuild.util.suggest: a hint only when something is close enough to be meant."""

from __future__ import annotations

from dlmbuild.util.suggest import closest, did_you_mean


def test_closest_and_hint():
    assert closest("tokenzie", ["tokenize", "train"]) == "tokenize"
    assert closest("zzz", ["tokenize", "train"]) is None
    assert did_you_mean(":tokenzie", [":tokenize"]) == " (did you mean ':tokenize'?)"
    assert did_you_mean("zzz", ["tokenize"]) == ""
    assert did_you_mean("q8", ["q8_0"], quote="`") == " (did you mean `q8_0`?)"
