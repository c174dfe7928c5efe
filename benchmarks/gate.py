"""How well does the learned gate route prompts it never saw? Held-out accuracy on several
multi-adapter documents of different shapes, against two baselines run in the same session.

Documents: ``examples/lanes.dlm`` (facts about a town vs. a command-line tool), and in
``benchmarks/gate_docs/``: ``orchard_club.dlm`` (three fact lanes: recipes, an allotment, a
club's accounts) and ``support_desk.dlm`` (knowledge vs. tone: product facts vs. replies to
customers). Each has two prompt sets, eight prompts per lane, written for this benchmark; none
was used to tune the gate:
- ``<name>.heldout.json``: worded unlike the document's questions, but naming its things
  (Saltmarrow, tidepool, the K2);
- ``<name>.indirect.json``: about the same facts in other words, avoiding the document's names
  and distinctive words ("the tower on the headland", "the note syncing program").

Routers, each picking one lane per prompt:
- ``gate``: ``dlm build DOC :gate``, then the gate's heaviest adapter;
- ``nearest row``: the lane of the document row most like the prompt by word overlap
  (RapidFuzz ``token_set_ratio``), a keyword router with no model;
- ``majority``: always the lane with the most rows (chance level).

    .venv/bin/python benchmarks/gate.py [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
import quality  # noqa: E402

DOCS = {
    "lanes": (ROOT / "examples" / "lanes.dlm", ROOT / "benchmarks" / "gate_docs" / "lanes.heldout.json"),
    "orchard_club": (ROOT / "benchmarks" / "gate_docs" / "orchard_club.dlm", ROOT / "benchmarks" / "gate_docs" / "orchard_club.heldout.json"),
    "support_desk": (ROOT / "benchmarks" / "gate_docs" / "support_desk.dlm", ROOT / "benchmarks" / "gate_docs" / "support_desk.heldout.json"),
}


def nearest_row(prompt: str, rows) -> str:
    from rapidfuzz import fuzz

    best = max(rows, key=lambda r: (fuzz.token_set_ratio(prompt.lower(), r.text.lower()), -len(r.adapters)))
    return best.adapters[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "_work" / "gate")
    args = parser.parse_args()
    quality.scratch_home(args.work)

    from dlmbuild.cli.build import run_build
    from dlmbuild.gate.embed import embed
    from dlmbuild.gate.feature_model import FEATURES_FILE
    from dlmbuild.gate.router import Gate, Routing
    from dlmbuild.gate.rows import gate_rows, rows_by_adapter
    from dlmbuild.project import Project
    from dlmbuild.rules.gate import sections

    print(f"{'document':14} {'set':9} {'lanes':>5} {'rows':>5} {'held-in':>8} {'gate':>9} {'nearest row':>12} {'majority':>9}")
    totals: dict[str, dict[str, int]] = {}
    for name, (source, heldout_file) in DOCS.items():
        doc = args.work / f"{name}.dlm"
        shutil.copyfile(source, doc)
        outputs: dict[str, Path] = {}
        started = time.perf_counter()
        code = run_build(doc, [":gate"], quiet=True, collect=outputs)
        seconds = time.perf_counter() - started
        if code:
            raise SystemExit(f"{name}: :gate failed")
        gate = Gate.load(outputs[":gate"])
        project = Project.open(doc)
        rows = gate_rows(sections(project))
        counts = rows_by_adapter(rows, list(gate.adapters))
        majority = max(counts, key=counts.get)
        for kind, path in (("held-out", heldout_file), ("indirect", heldout_file.with_name(f"{name}.indirect.json"))):
            prompts = [(p, lane) for lane, items in json.loads(path.read_text(encoding="utf-8")).items() for p in items]
            features = embed(outputs[":gate"] / FEATURES_FILE, [p for p, _ in prompts], doing="embedding held-out prompts")
            right = {"gate": 0, "nearest": 0, "majority": 0, "n": len(prompts)}
            for (prompt, lane), feature in zip(prompts, features):
                weights = gate.route(feature, Routing())
                right["gate"] += max(weights, key=weights.get) == lane
                right["nearest"] += nearest_row(prompt, rows) == lane
                right["majority"] += majority == lane
            total = totals.setdefault(kind, {"gate": 0, "nearest": 0, "majority": 0, "n": 0})
            for key in total:
                total[key] += right[key]
            n = right["n"]
            print(f"{name:14} {kind:9} {len(gate.adapters):>5} {len(rows):>5} {gate.summary['held_in_accuracy']:>8.0%} "
                  f"{right['gate']:>4}/{n:<4} {right['nearest']:>7}/{n:<4} {right['majority']:>4}/{n:<4}")
        print(f"{'':14} (:gate built in {seconds:.1f} s, the base GGUF conversion included)")
    for kind, total in totals.items():
        n = total["n"]
        print(f"{'all':14} {kind:9} {'':>5} {'':>5} {'':>8} {total['gate']:>4}/{n:<4} {total['nearest']:>7}/{n:<4} {total['majority']:>4}/{n:<4}")


if __name__ == "__main__":
    main()
