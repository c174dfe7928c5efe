"""Behaviour probes: which rows are probed, what is recorded, that a saved adapter probes exactly
as the model did in memory, and how two probe sets compare."""

from __future__ import annotations

import pytest

from dlmbuild.train.probes import (
    MAX_POSITIONS,
    MAX_PROBES,
    ProbeVerdict,
    compare,
    goldens,
    probe_saved,
    probe_set,
    probes_of,
    read_probes,
)
from tests.train.test_recipe import base, base_dir, make_plan, train  # noqa: F401  (fixtures)

QA = [{"input_ids": [3 + i, 4 + i, 10 + i, 20 + i, 2], "loss_mask": [0, 0, 1, 1, 1]} for i in range(3)]
PROSE = [{"input_ids": [5, 6, 7, 8]}, {"input_ids": [9]}, {"input_ids": [11, 12, 13]}]


def test_questions_are_probed_when_the_document_has_any():
    probes = probe_set(PROSE + QA)
    assert [p.input_ids for p in probes] == [tuple(r["input_ids"]) for r in QA]
    assert all(p.positions == (2, 3, 4) for p in probes)  # the answer's tokens, end of turn included


def test_prose_is_probed_otherwise_and_one_token_rows_are_not():
    probes = probe_set(PROSE)
    assert [p.input_ids for p in probes] == [(5, 6, 7, 8), (11, 12, 13)]
    assert probes[0].positions == (1, 2, 3)  # every token after the first


def test_the_set_is_bounded_deduplicated_and_stable():
    long = [{"input_ids": list(range(3, 3 + 80)), "loss_mask": [0] * 4 + [1] * 76}]
    assert len(probe_set(long)[0].positions) == MAX_POSITIONS
    assert probe_set(long)[0].input_ids == tuple(range(3, 3 + 4 + MAX_POSITIONS))  # cut after the last probed token
    many = [{"input_ids": [3, 4 + i % 20, 5 + i], "loss_mask": [0, 1, 1]} for i in range(40)]
    assert len(probe_set(many)) == MAX_PROBES
    assert len(probe_set(QA + QA)) == 3  # a repeated pair is one probe
    assert [p.id for p in probe_set(QA)] == [p.id for p in probe_set([dict(r) for r in QA])]


def test_training_writes_probes_that_a_reload_reproduces_exactly(base, base_dir, tmp_path):  # noqa: F811
    from dlmbuild.train.packing import pack

    out, _result, _reports = train(base, tmp_path, make_plan(steps=30, micro_batch=3), blocks=pack(QA, 16),
                                   probes=probe_set(QA))
    written = read_probes(out)
    assert set(written) == {p.id for p in probe_set(QA)}
    assert all(len(p["argmax"]) == len(p["logprob"]) == len(p["margin"]) == 3 and p["positions"] == [2, 3, 4]
               for p in written.values())
    assert all(m >= 0 for p in written.values() for m in p["margin"])
    assert probes_of(written) == sorted(probe_set(QA), key=lambda p: p.id)
    assert probe_saved(base_dir, out, QA) == written


def test_probes_are_not_written_without_a_probe_set(base, tmp_path):  # noqa: F811
    out, _result, _reports = train(base, tmp_path)
    assert read_probes(out) is None


GOLDEN = {"a": {"argmax": [5, 6, 2], "logprob": [-0.01, -0.2, 0.0], "margin": [6.0, 0.3, 9.0]},
          "b": {"argmax": [7, 2], "logprob": [-0.5, -0.1], "margin": [2.0, 5.0]}}


def test_identical_probes_pass_at_any_tolerance():
    verdict = compare(GOLDEN, GOLDEN)
    assert verdict == ProbeVerdict(2, 2, 0.0)
    assert verdict.passes(0.0)


def test_a_small_drift_passes_within_the_tolerance_only():
    drifted = {**GOLDEN, "b": {"argmax": [7, 2], "logprob": [-0.8, -0.1]}}
    verdict = compare(GOLDEN, drifted)
    assert verdict.same == 2 and verdict.max_diff == pytest.approx(0.3)
    assert verdict.passes(0.5) and not verdict.passes(0.2)


def test_a_near_tie_moving_does_not_count_in_the_difference():
    moved = {**GOLDEN, "a": {"argmax": [5, 6, 2], "logprob": [-0.01, -1.4, 0.0]}}  # 1.2 at a 0.3 margin
    assert compare(GOLDEN, moved, 0.5).max_diff == pytest.approx(0.0) and compare(GOLDEN, moved, 0.5).passes(0.5)
    assert compare(GOLDEN, moved, 0.2).max_diff == pytest.approx(1.2)  # decided at this tolerance: it counts


def test_a_flipped_decided_answer_fails():
    flipped = {**GOLDEN, "a": {"argmax": [9, 6, 2], "logprob": [-0.01, -0.2, 0.0]}}  # locked margin 6.0 there
    verdict = compare(GOLDEN, flipped, 1.0)
    assert (verdict.same, verdict.undecided, verdict.first_divergence) == (1, 0, "a")
    assert not verdict.passes(1.0)


def test_a_flip_where_the_locked_adapter_was_undecided_is_not_a_divergence():
    flipped = {**GOLDEN, "a": {"argmax": [5, 9, 2], "logprob": [-0.01, -0.4, 0.0]}}  # locked margin 0.3 there
    verdict = compare(GOLDEN, flipped, 0.5)
    assert (verdict.same, verdict.undecided, verdict.first_divergence) == (1, 1, "")
    assert verdict.passes(0.5)
    strict = compare(GOLDEN, flipped, 0.1)  # a tolerance under the margin: the flip counts
    assert strict.first_divergence == "a" and not strict.passes(0.1)
    no_margins = {pid: {k: v for k, v in p.items() if k != "margin"} for pid, p in GOLDEN.items()}
    assert compare(no_margins, flipped, 0.5).first_divergence == "a"  # an old golden: every flip counts


def test_a_missing_probe_fails():
    verdict = compare(GOLDEN, {"a": GOLDEN["a"]})
    assert verdict.missing == ("b",) and not verdict.passes(100.0)


def test_the_lock_keeps_choices_and_log_probabilities_only():
    probe = {"argmax": [1], "logprob": [-0.5], "margin": [0.7], "input_ids": [3, 4, 5], "positions": [2]}
    assert goldens({"x": probe}) == {"x": {"argmax": [1], "logprob": [-0.5], "margin": [0.7]}}
