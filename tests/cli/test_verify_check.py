"""The verdicts of ``dlm verify`` over a lock and rebuilt results, without building anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlmbuild.cli.verify_check import (
    answers_phrase,
    class_difference,
    compare_across,
    compare_bytes,
    parse_tolerance,
    reference_class,
)
from dlmbuild.engine.executor import TargetResult
from dlmbuild.engine.lockfile import ClassGoldens, Lock, LockedTarget
from dlmbuild.errors import EXIT_BAD_INPUT, UsageError

AMX = {"device": "cpu", "precision": "bf16", "isa": "amx", "deterministic": "yes"}
PROBES = {"p1": {"argmax": [4, 5], "logprob": [-0.1, -0.2], "margin": [0.2, 4.0]},
          "p2": {"argmax": [6], "logprob": [-0.3], "margin": [3.0]}}


def golden_class() -> ClassGoldens:
    return ClassGoldens(AMX, {":train-a": LockedTarget("train@3", "k1", "o1", {}, "B1"),
                              ":gguf-q4_k_m": LockedTarget("gguf@1", "k2", "o2", {}, "B2")},
                        {":train-a": PROBES})


def result(name: str, output: str = "x", basis: str = "B1", status: str = "built") -> TargetResult:
    return TargetResult(name, status, key="k", output_hash=output, out_dir=Path("/nowhere"), basis=basis, machine_bound=True)


def across(rebuilt_probes: dict | None, tolerance: float = 0.5, **results):
    rebuilt = {":train-a": result(":train-a"), ":gguf-q4_k_m": result(":gguf-q4_k_m", basis="B2"), **results}
    return compare_across(golden_class(), rebuilt, tolerance, lambda name: rebuilt_probes,
                          lambda name, pid, mine: f"probe {pid}")


@pytest.mark.parametrize(("text", "value"), [(None, 1.0), ("0", 0.0), ("0.25", 0.25), ("2", 2.0)])
def test_tolerances_that_parse(text, value):
    assert parse_tolerance(text, 1.0) == value


@pytest.mark.parametrize("text", ["abc", "-0.1", "nan", "inf", ""])
def test_tolerances_that_do_not(text):
    with pytest.raises(UsageError) as info:
        parse_tolerance(text, 1.0)
    assert "--tolerance" in str(info.value) and "\n" not in str(info.value)
    assert info.value.exit_code == EXIT_BAD_INPUT


def test_the_reference_is_this_class_when_recorded_else_the_first_recorded():
    lock = Lock(classes={"cpu-bf16-amx": golden_class(), "cpu-fp32-avx2": golden_class()})
    assert reference_class(lock, "cpu-fp32-avx2", strict=False) == "cpu-fp32-avx2"
    assert reference_class(lock, "cuda-bf16-sm90-det", strict=False) == "cpu-bf16-amx"
    assert reference_class(Lock(), "cpu-bf16-amx", strict=True) is None  # only shared targets: bytes


def test_strict_across_classes_says_why_it_cannot_pass():
    lock = Lock(classes={"cpu-bf16-amx": golden_class()})
    with pytest.raises(UsageError, match="training in fp32 and in bf16 rounds differently"):
        reference_class(lock, "cpu-fp32-amx", strict=True)
    with pytest.raises(UsageError, match="its kernels round differently on another instruction set"):
        reference_class(lock, "cpu-bf16-avx512-bf16", strict=True)


def test_bytes_ok_mismatch_and_not_built():
    locked = {":a": LockedTarget("r@1", "k", "same", {"f": "1"}), ":b": LockedTarget("r@1", "k", "old", {"f": "1"}),
              ":c": LockedTarget("r@1", "k", "o", {})}
    results = {":a": TargetResult(":a", "built", output_hash="same", files={"f": "1"}),
               ":b": TargetResult(":b", "cached", output_hash="new", files={"f": "2"}),
               ":c": TargetResult(":c", "failed", error="boom")}
    ok, problems = compare_bytes(locked, results)
    assert ok == [":a"]
    assert problems == ["  MISMATCH  :b: output new != locked old", "            f: locked 1, rebuilt 2", "  :c: did not build (boom)"]


def test_identical_behaviour_passes_and_what_is_built_from_it_is_counted():
    report = across(PROBES)
    assert report.problems == [] and (report.probed, report.questions, report.identical) == (1, 2, 2)
    assert report.derived == [":gguf-q4_k_m"] and report.unprobed == []


def test_drift_within_and_beyond_the_tolerance():
    drift = {**PROBES, "p2": {"argmax": [6], "logprob": [-0.6]}}
    assert across(drift, tolerance=0.5).problems == []
    assert across(drift, tolerance=0.5).max_diff == pytest.approx(0.3)
    [line] = across(drift, tolerance=0.2).problems
    assert line == "  MISMATCH  :train-a: max logit difference 0.3000 is over the tolerance 0.2 (greedy answers identical on 2/2)"


def test_a_different_answer_fails_and_names_the_first():
    [line] = across({**PROBES, "p2": {"argmax": [7], "logprob": [-0.3]}}, tolerance=1).problems
    assert line == "  MISMATCH  :train-a: greedy answers differ on 1/2 questions where the locked adapter was decided; first: probe p2"


def test_a_flip_at_a_near_tie_is_reported_as_undecided():
    report = across({**PROBES, "p1": {"argmax": [8, 5], "logprob": [-0.15, -0.2]}}, tolerance=0.5)
    assert report.problems == [] and (report.identical, report.undecided) == (1, 1)
    assert answers_phrase(report, 0.5) == ("greedy answers identical on 1/2 questions (1 more differ only where the locked "
                                           "adapter was undecided, a top-two margin within 0.5)")


def test_a_changed_probe_set_and_a_stale_recipe_are_not_class_differences():
    [missing] = across({"p1": PROBES["p1"]}).problems
    assert "1 of the lock's 2 probes are not among the rebuilt adapter's" in missing
    [stale] = across(PROBES, **{":train-a": result(":train-a", basis="OTHER")}).problems
    assert stale.startswith("  STALE     :train-a: the lock's goldens come from another recipe")


def test_class_difference_names_only_what_differs():
    assert class_difference({**AMX, "precision": "fp32"}, AMX) == "precision fp32 vs bf16"
    assert class_difference({**AMX, "isa": "avx2", "precision": "fp32"}, AMX) == "precision fp32 vs bf16, isa avx2 vs amx"
