"""Word error rate of the embedded Whisper tiny.en before and after LoRA domain adaptation.

The clips are the committed fixtures (tests/fixtures/audio/, espeak-ng speech, see its README):
``train`` sentences with an invented name ("Kelvarro Tidemoor") that the adapter is trained on,
``heldout`` sentences with the same name that it never sees, and ``plain`` sentences without the
name, which adaptation must not damage. In one run, the untrained base transcribes every clip,
an adapter is trained on the train clips (dlmbuild.speech.train, deterministic), and the base
with the adapter transcribes them all again. Prints WER per set (and overall) for both, whether
the name is spelled right, and each transcript.

    .venv/bin/python benchmarks/speech_wer.py [--steps 20] [--lr 1e-3] [--seed 0] [--threads 1] [--json out.json]

The base is converted into $DLM_HOME/bases (or a temporary home) on first use.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FIXTURES = ROOT / "tests" / "fixtures" / "audio"
NAME = "Kelvarro Tidemoor"
SETS = ("train", "heldout", "plain")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--r", type=int, default=8)
    parser.add_argument("--alpha", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    from dlmbuild.bases.resolve import resolve_base
    from dlmbuild.speech.train import train_speech_lora
    from dlmbuild.speech.transcribe import Transcriber
    from dlmbuild.speech.wer import wer

    table = json.loads((FIXTURES / "transcripts.json").read_text(encoding="utf-8"))
    clips = [(FIXTURES / name, row["text"], row["set"]) for name, row in table.items()]
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(os.environ.get("DLM_HOME", Path(tmp) / "home"))
        started = time.perf_counter()
        base = resolve_base("whisper-tiny.en", Path(tmp), home=home).path
        print(f"base: {base} ({time.perf_counter() - started:.1f} s to resolve)")

        before = _transcribe(Transcriber(base, threads=args.threads), clips)
        stats = train_speech_lora(base, [(c, t) for c, t, s in clips if s == "train"], Path(tmp) / "adapter", r=args.r,
                                  alpha=args.alpha, steps=args.steps, learning_rate=args.lr, seed=args.seed, threads=args.threads)
        print(f"trained: {stats['steps']} steps in {stats['seconds']} s, loss {stats['first_loss']:.3f} -> {stats['final_loss']:.3f}, "
              f"{stats['trainable_params']} LoRA parameters (r={args.r}, alpha={args.alpha}, lr={args.lr}, seed={args.seed})")
        after = _transcribe(Transcriber(base, adapter_dir=Path(tmp) / "adapter", threads=args.threads), clips)

    figures = {}
    print(f"\n{'set':<9}{'clips':>6}{'WER base':>11}{'WER adapted':>13}{'name right (base -> adapted)':>31}")
    for which in (*SETS, "all"):
        rows = [(c, t) for c, t, s in clips if which in ("all", s)]
        base_wer = wer([(t, before[c.name]) for c, t in rows])
        adapted_wer = wer([(t, after[c.name]) for c, t in rows])
        with_name = [c for c, t in rows if NAME in t]
        named = (sum(NAME in before[c.name] for c in with_name), sum(NAME in after[c.name] for c in with_name), len(with_name))
        figures[which] = {"clips": len(rows), "wer_base": round(base_wer, 4), "wer_adapted": round(adapted_wer, 4),
                          "name_right_base": named[0], "name_right_adapted": named[1], "with_name": named[2]}
        name_cell = f"{named[0]}/{named[2]} -> {named[1]}/{named[2]}" if with_name else "-"
        print(f"{which:<9}{len(rows):>6}{base_wer:>11.1%}{adapted_wer:>13.1%}{name_cell:>31}")
    right = [c.name for c, t, s in clips if s == "plain" and before[c.name] == t]
    kept = sum(after[name] == before[name] for name in right)
    figures["plain_right_before_kept"] = {"kept": kept, "of": len(right)}
    print(f"\nplain clips the base transcribed exactly: {len(right)}; transcribed the same after adaptation: {kept}")
    print("\ntranscripts (reference | base | adapted):")
    for clip, text, which in clips:
        print(f"  [{which}] {clip.name}\n    ref:     {text}\n    base:    {before[clip.name]}\n    adapted: {after[clip.name]}")
    if args.json:
        args.json.write_text(json.dumps({"figures": figures, "training": stats, "before": before, "after": after}, indent=2) + "\n")
    return 0


def _transcribe(transcriber, clips) -> dict[str, str]:
    return {clip.name: transcriber.transcribe(clip) for clip, _text, _set in clips}


if __name__ == "__main__":
    raise SystemExit(main())
