"""Does the preference phase move a model's style, and at what cost? Measured on prompts the
triples never show, against the supervised adapter alone and the untrained base, in one session.

Document: ``benchmarks/preference_docs/short_answers.dlm``: a paragraph of prose and 12
``::preference::`` triples whose chosen answers are one sentence that starts with the answer and
whose rejected answers ramble. Held-out prompts: ``short_answers.prompts.txt`` (12 general
questions). Builds, each in a child process on the embedded base with dlm's defaults:
  - ``sft``: ``dlm train --phase sft`` (the supervised adapter alone);
  - ``dpo`` and ``orpo``: the full build with ``training.preference.method`` set.
For each system, the greedy answers to the held-out prompts: the share that are short (one
sentence of at most 20 words), their mean length in words, general-English drift (as in
benchmarks/quality.py) and the preference phase's seconds.

    .venv/bin/python benchmarks/preference.py [--methods dpo,orpo]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import quality  # noqa: E402

DOC = ROOT / "benchmarks" / "preference_docs" / "short_answers.dlm"
PROMPTS = ROOT / "benchmarks" / "preference_docs" / "short_answers.prompts.txt"
BUILD = """
import sys, json
from pathlib import Path
from dlmbuild.cli.build import run_build
options = json.loads(sys.argv[2])
sys.exit(run_build(Path(sys.argv[1]), [], quiet=True, options=options or None))
"""


def short(answer: str) -> bool:
    """One sentence (at most one sentence end, at the end) of at most 20 words."""
    text = answer.strip()
    return len(re.findall(r"[.!?](\s|$)", text)) <= 1 and len(text.split()) <= 20


def build(doc: Path, options: dict) -> float:
    import json

    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", BUILD, str(doc), json.dumps(options)], capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"benchmark: build failed:\n{done.stdout}\n{done.stderr}")
    return time.perf_counter() - started


def measure(doc: Path, system: str) -> dict:
    import torch

    from dlmbuild.eval.runner import answer_questions, open_session
    from dlmbuild.project import Project

    prompts = [p for p in PROMPTS.read_text().splitlines() if p.strip()]
    session = open_session(Project.open(doc, materialize_base=True), "default")
    torch.set_num_threads(2)
    answers = answer_questions(session, prompts, system, max_new_tokens=64)
    windows = quality.general_text_ids(session.tokenizer)
    drift = 0.0
    if system == "adapter":
        after = quality.mean_loss(session.model, windows)
        with session.adapter_disabled():
            drift = after / quality.mean_loss(session.model, windows) - 1
    return {"short": sum(map(short, answers)), "n": len(answers), "words": sum(len(a.split()) for a in answers) / len(answers),
            "drift": drift, "example": answers[0].strip().replace("\n", " ")[:90]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="dpo,orpo")
    parser.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "_work" / "preference")
    args = parser.parse_args()
    quality.scratch_home(args.work)
    doc = args.work / DOC.name
    shutil.copy(DOC, doc)
    rows = {}
    seconds = {"sft": build(doc, {"phase": "sft"})}
    rows["base"] = measure(doc, "base")
    rows["sft"] = measure(doc, "adapter")
    for method in args.methods.split(","):
        from dlmbuild.document.edit import DocumentEditor
        from dlmbuild.document.parse import parse_document

        editor = DocumentEditor(parse_document(doc))
        editor.set("training.preference.method", method)
        editor.write()
        seconds[method] = build(doc, {})
        rows[method] = measure(doc, "adapter")
    print(f"\nheld-out prompts: {rows['base']['n']}; 'short' = one sentence of at most 20 words")
    print(f"  {'system':<8}{'short':>10}{'mean words':>12}{'drift':>9}{'build s':>9}  first answer")
    for name, row in rows.items():
        build_s = f"{seconds[name]:.0f}" if name in seconds else "-"
        print(f"  {name:<8}{row['short']:>5}/{row['n']:<4}{row['words']:>12.1f}{row['drift']:>+9.1%}{build_s:>9}  {row['example']!r}")


if __name__ == "__main__":
    main()
