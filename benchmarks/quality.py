"""Does training teach any document and keep the model's general ability? Measured on documents
the recipe was not tuned on, against two baselines run in the same session.

Documents (``benchmarks/quality_docs/``, each with a probe file ``<name>.probes.tsv``):
  - tuned on: ``runbook`` and ``api_notes`` (the only two the recipe may be adjusted against);
  - held out: ``local_history``, ``product_faq`` and ``examples/tutor.dlm``.
Each is copied into a scratch store and built with dlm's defaults on the embedded SmolLM2-135M
base (``dlm build`` in a child process: its seconds and peak RSS are the build's own), then every
probe is answered greedily by three systems through ``dlmbuild.eval`` (the path ``dlm eval``
and ``dlm prompt`` take):
  - ``adapter``: the trained adapter;
  - ``base``: the untrained base (baseline);
  - ``in-context``: the untrained base with the document's text in its system prompt (baseline).
Drift is the change in mean token loss on general English the adapter never saw (the first 32
windows of 128 tokens of ``pydoc_data.topics``), adapter against base.
Aims (issue 13): trained >= 95 %; paraphrase >= 50 % and >= in-context; drift <= +10 %; a
document of up to 30 Q/A pairs builds in <= 5 min with peak RSS <= 3.5 GB.

    .venv/bin/python benchmarks/quality.py [--docs runbook,api_notes,...] [--set training.KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DOCS = ROOT / "benchmarks" / "quality_docs"
ALL = {"runbook": DOCS / "runbook.dlm", "api_notes": DOCS / "api_notes.dlm", "local_history": DOCS / "local_history.dlm",
       "product_faq": DOCS / "product_faq.dlm", "tutor": ROOT / "examples" / "tutor.dlm"}
TUNED_ON = ("runbook", "api_notes")
SYSTEMS = ("adapter", "base", "in-context")
BUILD = """
import resource, sys
from pathlib import Path
from dlmbuild.cli.build import run_build
code = run_build(Path(sys.argv[1]), [], quiet=True)
print(f"PEAK_RSS_KB={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}", file=sys.stderr)
sys.exit(code)
"""


def general_text_ids(tokenizer, windows: int = 32, width: int = 128) -> list[list[int]]:
    from pydoc_data.topics import topics

    text = "\n\n".join(topics[k] for k in sorted(topics))
    ids = tokenizer.encode(text[:200_000])
    return [ids[i * width : (i + 1) * width] for i in range(windows)]


def mean_loss(model, windows) -> float:
    import torch

    total, count = 0.0, 0
    with torch.inference_mode():
        for ids in windows:
            batch = torch.tensor([ids])
            total += float(model(input_ids=batch, labels=batch).loss) * (len(ids) - 1)
            count += len(ids) - 1
    return total / count


def prepare(name: str, source: Path, work: Path, settings: list[str]) -> Path:
    doc = work / f"{name}.dlm"
    shutil.copy(source, doc)
    if settings:
        import yaml

        from dlmbuild.document.edit import DocumentEditor
        from dlmbuild.document.parse import parse_document

        editor = DocumentEditor(parse_document(doc))
        for item in settings:
            key, _, value = item.partition("=")
            editor.set(key, yaml.safe_load(value))
        editor.write()
    return doc


def build(doc: Path) -> tuple[float, float]:
    """(seconds, peak RSS in GB) of ``dlm build doc`` in its own process."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", BUILD, str(doc)], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"benchmark: building {doc.name} failed:\n{done.stdout}\n{done.stderr}")
    peak = next(int(line.split("=")[1]) for line in done.stderr.splitlines() if line.startswith("PEAK_RSS_KB="))
    return seconds, peak / 1024 / 1024


def measure(name: str, doc: Path) -> dict:
    import torch

    from dlmbuild.eval.probes import load_probes
    from dlmbuild.eval.runner import answer_questions, in_context, open_session
    from dlmbuild.eval.score import passes
    from dlmbuild.project import Project

    seconds, peak_gb = build(doc)
    project = Project.open(doc, materialize_base=True)
    summary = json.loads(next(project.layout.root.rglob("dlm-train.json")).read_text())  # a fresh store: one build
    probes = load_probes(DOCS / f"{name}.probes.tsv")
    questions = [p.question for p in probes]
    session = open_session(project, "default")
    torch.set_num_threads(2)
    context = in_context(session, questions, 48)
    scores: dict[str, dict[str, list[bool]]] = {}
    misses = []
    for system in SYSTEMS:
        answers = answer_questions(session, questions, system, max_new_tokens=48, context=context)
        for probe, answer in zip(probes, answers, strict=True):
            ok = passes(probe, answer)
            scores.setdefault(system, {}).setdefault(probe.kind, []).append(ok)
            if system == "adapter" and not ok:
                misses.append(f"[{probe.kind}] {probe.question} -> {answer.strip()[:70]!r}")
    windows = general_text_ids(session.tokenizer)
    after = mean_loss(session.model, windows)
    with session.adapter_disabled():
        before = mean_loss(session.model, windows)
    return {"name": name, "seconds": seconds, "peak_gb": peak_gb, "scores": scores, "drift": after / before - 1,
            "steps": summary.get("steps_done"), "budget": summary["plan"]["steps"], "reproduced": summary.get("reproduced"),
            "context": context.as_dict(), "misses": misses}


def show(row: dict) -> None:
    tuned = "tuned on" if row["name"] in TUNED_ON else "held out"
    reproduced = "/".join(map(str, row["reproduced"])) if row["reproduced"] else "n/a"
    print(f"\n{row['name']} ({tuned}): build {row['seconds']:.0f} s, peak RSS {row['peak_gb']:.2f} GB, "
          f"{row['steps']} of {row['budget']} steps, answers reproduced {reproduced}, drift {row['drift']:+.1%}; "
          f"in-context kept {row['context']['chars_kept']}/{row['context']['chars_total']} chars")
    kinds = sorted({k for s in row["scores"].values() for k in s}, key=("trained", "paraphrase", "prose").index)
    print(f"  {'kind':<11}" + "".join(f"{s:>16}" for s in SYSTEMS))
    for kind in kinds:
        cells = []
        for system in SYSTEMS:
            results = row["scores"][system][kind]
            cells.append(f"{sum(results)}/{len(results)} {sum(results) / len(results):4.0%}")
        print(f"  {kind:<11}" + "".join(f"{c:>16}" for c in cells))
    for miss in row["misses"]:
        print(f"    miss {miss}")


def scratch_home(work: Path) -> None:
    """Empty ``work`` and make ``work/home`` this process's DLM_HOME, sharing only the converted
    bases of the user's (so no benchmark converts the embedded base again), offline."""
    shutil.rmtree(work, ignore_errors=True)
    (work / "home").mkdir(parents=True)
    shared = Path(os.environ.get("DLM_HOME") or Path.home() / ".dlm") / "bases"
    if shared.exists():
        os.symlink(shared, work / "home" / "bases")
    os.environ["DLM_HOME"] = str(work / "home")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", default=",".join(ALL), help="comma-separated: " + ", ".join(ALL))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="frontmatter override, e.g. training.lora_r=16")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "_work" / "quality", help="scratch folder (emptied first)")
    args = parser.parse_args()
    work = args.work
    scratch_home(work)
    rows = []
    for name in args.docs.split(","):
        rows.append(measure(name, prepare(name, ALL[name], work, args.set)))
        show(rows[-1])
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
