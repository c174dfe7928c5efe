"""Does training teach the document and keep the model's general ability?

On the tutor example (Kelvarro: an invented board game, so the base cannot know any of it; 20
Q/A pairs and prose), built with dlm's defaults on the embedded SmolLM2-135M base:
  - trained recall: greedy answers to the 20 trained questions that contain the key fact;
  - paraphrase recall: the same for 12 reworded questions that are not in the document;
  - general loss: mean token loss on English text it was never trained on (the first 32 windows
    of 128 tokens of ``pydoc_data.topics``), base alone against base + adapter: the change in %.
The baseline is the untrained base, measured in the same process.
Aims: >= 90 % trained, >= 50 % paraphrase, general loss up <= 10 %, training < 5 min on 2 cores.

    .venv/bin/python benchmarks/quality.py [--set training.learning_rate=1e-3 ...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TRAINED = [
    ("Who invented Kelvarro?", "drummond"), ("In what year was Kelvarro invented?", "1958"),
    ("Where was Kelvarro invented?", "moorsey"), ("What were the first Kelvarro boards made from?", "driftwood"),
    ("What does the Kelvarro board look like?", "61"), ("What is the middle cell of the Kelvarro board called?", "lantern"),
    ("How many skiffs does each Kelvarro player start with?", "12"), ("What are the two sides in Kelvarro called?", "reef"),
    ("Which side moves first in Kelvarro?", "tide"), ("How do you win a game of Kelvarro?", "lantern"),
    ("How is a skiff captured in Kelvarro?", "pinch"), ("What is the Drift in Kelvarro?", "two skiffs"),
    ("How many turns can a Kelvarro game last?", "80"), ("Who wins if no beacon reaches the Lantern in 80 turns?", "more skiffs"),
    ("When was the first Kelvarro tournament held?", "1964"), ("Who won the first Moorsey Open?", "reyl"),
    ("When was the Kelvarro Guild founded?", "1971"), ("Where are the headquarters of the Kelvarro Guild?", "harrowgate"),
    ("How often is the Kelvarro world championship held?", "three years"), ("Who has won the most Kelvarro world championships?", "orsk"),
]
PARAPHRASED = [
    ("Who created the game Kelvarro?", "drummond"), ("What year did Kelvarro first appear?", "1958"),
    ("On which island did Kelvarro originate?", "moorsey"), ("What material were the earliest Kelvarro boards carved from?", "driftwood"),
    ("How many cells are on a Kelvarro board?", "61"), ("What name is given to the central cell in Kelvarro?", "lantern"),
    ("How many skiffs does a Kelvarro player begin the game with?", "12"), ("In Kelvarro, who makes the first move?", "tide"),
    ("What do you need to do to win at Kelvarro?", "lantern"), ("What is the maximum number of turns in a Kelvarro game?", "80"),
    ("In which year was the Kelvarro Guild established?", "1971"), ("Which player holds the record for Kelvarro world titles?", "orsk"),
]


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
            loss = model(input_ids=batch, labels=batch).loss
            total += float(loss) * (len(ids) - 1)
            count += len(ids) - 1
    return total / count


def recall(session, questions, settings) -> tuple[float, list[str]]:
    misses = []
    for question, key in questions:
        answer = session.reply([{"role": "user", "content": question}], settings)
        if key not in answer.lower():
            misses.append(f"{question} -> {answer.strip()[:80]}")
    return 1 - len(misses) / len(questions), misses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--doc", type=Path, default=ROOT / "examples" / "tutor.dlm", help="the fact document (default: the tutor example)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="frontmatter override, e.g. training.learning_rate=1e-3")
    args = parser.parse_args()
    import torch

    from dlmbuild.cli.build import run_build
    from dlmbuild.document.edit import DocumentEditor
    from dlmbuild.infer.generate import Sampling
    from dlmbuild.infer.session import ChatSession
    from dlmbuild.project import Project

    work = ROOT / "benchmarks" / "_work" / "quality"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    home = work / "home"
    home.mkdir()
    shared = Path(os.environ.get("DLM_HOME") or Path.home() / ".dlm") / "bases"
    if shared.exists():
        os.symlink(shared, home / "bases")
    os.environ["DLM_HOME"] = str(home)
    doc = work / "tutor.dlm"
    shutil.copy(args.doc, doc)
    if args.set:
        import yaml

        from dlmbuild.document.parse import parse_document

        editor = DocumentEditor(parse_document(doc))
        for item in args.set:
            key, _, value = item.partition("=")
            editor.set(key, yaml.safe_load(value))
        editor.write()
    started = time.perf_counter()
    assert run_build(doc, [], quiet=True) == 0
    train_seconds = time.perf_counter() - started
    project = Project.open(doc, materialize_base=True)
    session = ChatSession.open(project, "default")
    settings = Sampling(max_new_tokens=48, temperature=0.0)
    trained, trained_misses = recall(session, TRAINED, settings)
    para, para_misses = recall(session, PARAPHRASED, settings)
    windows = general_text_ids(session.tokenizer)
    torch.set_num_threads(2)
    after = mean_loss(session.model, windows)
    with session.model.disable_adapter():
        before = mean_loss(session.model, windows)
    print(f"build (incl. tokenize, base load) {train_seconds:.0f}s")
    print(f"trained recall    {trained:6.0%}  ({len(TRAINED) - len(trained_misses)}/{len(TRAINED)})   aim >= 90%")
    print(f"paraphrase recall {para:6.0%}  ({len(PARAPHRASED) - len(para_misses)}/{len(PARAPHRASED)})   aim >= 50%")
    print(f"general loss      {before:.4f} -> {after:.4f} ({(after / before - 1):+.1%})   aim <= +10%")
    for miss in trained_misses + para_misses:
        print(f"  miss: {miss}")


if __name__ == "__main__":
    main()
