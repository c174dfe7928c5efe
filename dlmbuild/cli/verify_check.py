"""What ``dlm verify`` compares, once the rebuild is done: bytes within one machine class,
behaviour across classes (``train/probes.py``). Pure functions over the lock and the rebuilt
results, so every verdict is tested without training anything.

Across classes:
  - shared targets (tokenizing, data) must still match byte for byte;
  - each machine-bound target must have been rebuilt from the recipe the goldens came from
    (equal ``basis``), or the lock is stale, which is not a class difference;
  - an adapter with probes passes when its greedy answers are identical on every probe (a
    choice may differ only where the locked adapter was itself undecided: a top-two margin
    within the tolerance) and the largest log-probability difference is within the tolerance;
  - what is built from an adapter (merge, GGUF, bundles) differs because its adapter does; it
    is counted, not compared, and so is a machine-bound target without probes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from dlmbuild.errors import UsageError


@dataclass
class CrossClassReport:
    problems: list[str] = field(default_factory=list)
    probed: int = 0  # adapters compared by their probes
    questions: int = 0  # probes over all of them
    identical: int = 0  # of which with identical greedy answers
    undecided: int = 0  # of which differing only where the locked adapter was undecided
    max_diff: float = 0.0
    derived: list[str] = field(default_factory=list)  # built from compared adapters: not compared
    unprobed: list[str] = field(default_factory=list)  # machine-bound with no probes of their own


def parse_tolerance(text: str | None, default: float) -> float:
    """``--tolerance``: a non-negative number, or one clear line."""
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"--tolerance {text!r} is not a number (a log-probability difference such as 0.5)") from None
    if not value >= 0 or value == float("inf"):
        raise UsageError(f"--tolerance {text!r} must be a finite number of 0 or more")
    return value


def reference_class(lock, here: str, *, strict: bool) -> str | None:
    """The class whose goldens the rebuild is compared with: this machine's own when the lock
    has it (bytes), else the first recorded one (behaviour); None when the lock holds only shared
    targets. ``--strict`` across classes is refused: the bytes cannot match."""
    if here in lock.classes or not lock.classes:
        return here if here in lock.classes else None
    reference = sorted(lock.classes)[0]
    if strict:
        mine, theirs = here.split("-"), reference.split("-")
        why = (f"training in {mine[1]} and in {theirs[1]} rounds differently" if mine[1:2] != theirs[1:2]
               else "its kernels round differently on another instruction set or device")
        raise UsageError(f"--strict demands identical bytes, but dlm.lock holds goldens for {', '.join(sorted(lock.classes))} "
                         f"and this machine is {here}: {why}. Verify within the tolerance (without --strict), or record "
                         f"this class's goldens here with `dlm verify --record`")
    return reference


def compare_bytes(locked: dict, results: dict) -> tuple[list[str], list[str]]:
    """(ok target names, problem lines) for targets whose bytes must match."""
    ok, problems = [], []
    for name in sorted(locked):
        expected, got = locked[name], results.get(name)
        if got is None or got.status not in ("built", "cached"):
            problems.append(f"  {name}: did not build ({got.error if got else 'not run'})")
        elif got.output_hash == expected.output:
            ok.append(name)
        else:
            problems.append(f"  MISMATCH  {name}: output {got.output_hash[:16]} != locked {expected.output[:16]}")
            for rel in sorted(set(expected.files) | set(got.files)):
                a, b = expected.files.get(rel), got.files.get(rel)
                if a != b:
                    problems.append(f"            {rel}: locked {str(a)[:16]}, rebuilt {str(b)[:16]}")
    return ok, problems


def compare_across(reference, results: dict, tolerance: float, rebuilt_probes: Callable[[str], dict | None],
                   describe: Callable[[str, str, dict], str]) -> CrossClassReport:
    """The rebuilt machine-bound targets against ``reference`` (a ``ClassGoldens``).
    ``rebuilt_probes(name)`` reads a rebuilt adapter's probes; ``describe(name, probe_id,
    rebuilt)`` words a diverging answer for the user."""
    from dlmbuild.train.probes import compare

    report = CrossClassReport()
    for name in sorted(reference.targets):
        locked, got = reference.targets[name], results.get(name)
        if got is None or got.status not in ("built", "cached"):
            report.problems.append(f"  {name}: did not build ({got.error if got else 'not run'})")
            continue
        if locked.basis and got.basis != locked.basis:
            report.problems.append(f"  STALE     {name}: the lock's goldens come from another recipe (the document or its "
                                   f"settings changed since); run `dlm build` and commit dlm.lock")
            continue
        golden = reference.probes.get(name)
        if golden is None:
            if got.output_hash != locked.output:
                (report.derived if _derived(name, reference) else report.unprobed).append(name)
            continue
        mine = rebuilt_probes(name) or {}
        verdict = compare(golden, mine, tolerance)
        report.probed += 1
        report.questions += verdict.total
        report.identical += verdict.same
        report.undecided += verdict.undecided
        report.max_diff = max(report.max_diff, verdict.max_diff)
        if verdict.missing:
            report.problems.append(f"  MISMATCH  {name}: {len(verdict.missing)} of the lock's {verdict.total} probes are not "
                                   f"among the rebuilt adapter's (the probe set changed: run `dlm build`)")
        elif verdict.first_divergence:
            differ = verdict.total - verdict.same - verdict.undecided
            report.problems.append(f"  MISMATCH  {name}: greedy answers differ on {differ}/{verdict.total} questions where "
                                   f"the locked adapter was decided; first: {describe(name, verdict.first_divergence, mine)}")
        elif verdict.max_diff > tolerance:
            report.problems.append(f"  MISMATCH  {name}: max logit difference {verdict.max_diff:.4f} is over the tolerance "
                                   f"{tolerance:g} (greedy answers identical on {verdict.same}/{verdict.total})")
    return report


def answers_phrase(report: CrossClassReport, tolerance: float) -> str:
    """``greedy answers identical on 16/16 questions``, and how many more differ only where the
    locked adapter was undecided."""
    text = f"greedy answers identical on {report.identical}/{report.questions} questions"
    if report.undecided:
        text += (f" ({report.undecided} more differ only where the locked adapter was undecided, a top-two margin "
                 f"within {tolerance:g})")
    return text


def _derived(name: str, reference) -> bool:
    """Whether ``name`` is built from a probed adapter (export targets, the merge, the gate's
    siblings): anything but an adapter itself."""
    return not name.startswith((":train-", ":prefer-")) and bool(reference.probes)


def class_difference(here: dict[str, str], there: dict[str, str]) -> str:
    """``precision fp32 vs bf16``: the fields that differ, for the summary line."""
    parts = [f"{f} {here.get(f, '?')} vs {there.get(f, '?')}" for f in ("device", "precision", "isa", "deterministic")
             if here.get(f) != there.get(f)]
    return ", ".join(parts) or "same fields"
