"""Does ``dlm synth instructions`` make a model answer from prose? One synth-apply-build round on
prose-only documents, against the same document built without it, in the same session.

Documents: the prose of ``benchmarks/quality_docs/<name>.dlm`` (every ``::instruction::`` section
removed), so every probe of ``<name>.probes.tsv`` asks about a fact stated only in prose. For each:
  1. ``dlm build`` the prose-only document with dlm's defaults; score the probes (``before``);
  2. ``dlm synth instructions --teacher T --apply`` (teacher ``base`` unless ``--teacher``), timed:
     pairs kept per minute of generation;
  3. ``dlm build`` again (it trains on the new sections) and score the probes (``after``).
The in-context baseline (the untrained base reading the prose-only document) is scored too.

    .venv/bin/python benchmarks/synth.py [--docs runbook,local_history] [--teacher base]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import quality  # noqa: E402  (the build and scoring helpers of benchmarks/quality.py)

SYSTEMS = ("adapter", "in-context")


def prose_only(source: Path, target: Path) -> Path:
    """``source`` without its ``::instruction::`` sections (fence to the next fence or the end)."""
    text = source.read_text(encoding="utf-8")
    head, _, body = text.partition("\n---\n")
    kept = re.sub(r"(?ms)^::instruction[^\n]*::\n.*?(?=^::|\Z)", "", body)
    target.write_text(f"{head}\n---\n{kept.rstrip()}\n", encoding="utf-8")
    return target


def score(doc: Path, probes_file: Path) -> dict[str, tuple[int, int]]:
    """(passed, total) per system over every probe of ``probes_file``."""
    import torch

    from dlmbuild.eval.probes import load_probes
    from dlmbuild.eval.runner import answer_questions, in_context, open_session
    from dlmbuild.eval.score import passes
    from dlmbuild.project import Project

    project = Project.open(doc, materialize_base=True)
    probes = load_probes(probes_file)
    questions = [p.question for p in probes]
    session = open_session(project, "default")
    torch.set_num_threads(2)
    context = in_context(session, questions, 48)
    result = {}
    for system in SYSTEMS:
        answers = answer_questions(session, questions, system, max_new_tokens=48, context=context)
        result[system] = (sum(passes(p, a) for p, a in zip(probes, answers, strict=True)), len(probes))
    return result


def synth(doc: Path, teacher: str) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "dlmbuild", "synth", "instructions", str(doc), "--teacher", teacher, "--apply"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"benchmark: synth on {doc.name} failed:\n{done.stdout}\n{done.stderr}")
    return time.perf_counter() - started, next(line for line in done.stdout.splitlines() if line.startswith("filter:"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", default="runbook,local_history")
    parser.add_argument("--teacher", default="base")
    parser.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "_work" / "synth")
    args = parser.parse_args()
    quality.scratch_home(args.work)
    for name in args.docs.split(","):
        doc = prose_only(quality.ALL[name], args.work / f"{name}.dlm")
        probes = quality.DOCS / f"{name}.probes.tsv"
        build_before, _ = quality.build(doc)
        before = score(doc, probes)
        seconds, report = synth(doc, args.teacher)
        kept = int(report.rsplit(",", 1)[1].split()[0])
        build_after, _ = quality.build(doc)
        after = score(doc, probes)
        cell = lambda r: f"{r[0]}/{r[1]} {r[0] / r[1]:4.0%}"  # noqa: E731
        print(f"\n{name} (prose only), teacher {args.teacher}: {report}")
        print(f"  synth {seconds:.0f} s, {kept / seconds * 60:.1f} pairs kept per minute; builds {build_before:.0f} s then {build_after:.0f} s")
        print(f"  probes answered: adapter before {cell(before['adapter'])}, after {cell(after['adapter'])}; "
              f"in-context baseline {cell(before['in-context'])}")


if __name__ == "__main__":
    main()
