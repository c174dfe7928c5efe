"""Training throughput: dlm's loop against a plain TRL ``SFTTrainer`` script, back to back.

Same base (the embedded SmolLM2-135M), same rows (the tutor example's ``:data-default``), same
LoRA config (every linear projection, r=8, alpha=16, dropout 0.05), same sequence length (256),
packing, batch (4), bf16 autocast, learning rate and steps. Each side runs in its own child
process so peak RSS is its own. Tokens/s counts non-padding tokens over the whole run (first
step included). Prints both and the ratio dlm/TRL.

    .venv/bin/python benchmarks/train_throughput.py [--steps 20] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SEQ, BATCH, LR, R, ALPHA, DROPOUT = 256, 4, 5e-4, 8, 16.0, 0.05
MODULES = ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]


def prepare(home: Path) -> tuple[Path, Path]:
    """Build the tutor's :data-default once; return (base folder, rows.jsonl)."""
    from dlmbuild.cli.build import run_build
    from dlmbuild.cli.common import open_project
    from dlmbuild.engine.actioncache import ActionCache
    from dlmbuild.engine.lockfile import read_lock

    work = home / "work"
    shutil.copytree(ROOT / "examples", work, dirs_exist_ok=True)
    (work / "dlm.lock").unlink(missing_ok=True)
    os.environ["DLM_HOME"] = str(home)
    doc = work / "tutor.dlm"
    assert run_build(doc, [":data-default"], quiet=True) == 0
    project, _ = open_project(doc, materialize_base=True)
    entry = read_lock(doc).targets[":data-default"]
    cache = ActionCache(project.layout.actions, project.filestate)
    return Path(project.base().path), cache.entry_dir(entry.key) / "out" / "rows.jsonl"


def run_dlm(base: Path, rows_path: Path, steps: int) -> dict:
    from dlmbuild.train.base_model import load_base
    from dlmbuild.train.device import pick_device
    from dlmbuild.train.packing import pack
    from dlmbuild.train.plan import TrainPlan
    from dlmbuild.train.recipe import train_adapter

    rows = [json.loads(line) for line in rows_path.read_text().splitlines()]
    blocks = pack(rows, SEQ)
    plan = TrainPlan(adapter="bench", kind="lora", r=R, alpha=ALPHA, dropout=DROPOUT, target_modules=tuple(MODULES),
                     learning_rate=LR, epochs=1000, steps=steps, micro_batch=BATCH, grad_accum=1, scheduler="cosine",
                     warmup_steps=int(steps * 0.1), optimizer="adamw", seed=7, sequence_len=SEQ, blocks=len(blocks))
    device = pick_device("bf16")
    model = load_base(base, "cpu")
    with tempfile.TemporaryDirectory() as out:
        stats = train_adapter(model, plan, device, blocks, 2, Path(out), base_key="bench")
    return {"tokens": stats["tokens"], "seconds": stats["seconds"], "final_loss": stats["final_loss"]}


def run_trl(base: Path, rows_path: Path, steps: int) -> dict:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    rows = [json.loads(line) for line in rows_path.read_text().splitlines()]
    data = Dataset.from_list([{"input_ids": r["input_ids"], "completion_mask": r.get("loss_mask") or [1] * len(r["input_ids"])}
                              for r in rows])
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32, attn_implementation="sdpa")
    with tempfile.TemporaryDirectory() as out:
        config = SFTConfig(output_dir=out, max_length=SEQ, packing=True, per_device_train_batch_size=BATCH, max_steps=steps,
                           learning_rate=LR, lr_scheduler_type="cosine", warmup_steps=int(steps * 0.1), bf16=True, use_cpu=True,
                           gradient_checkpointing=False, logging_steps=1, report_to=[], save_strategy="no", seed=7,
                           include_num_input_tokens_seen="non_padding", dataloader_num_workers=0, completion_only_loss=True)
        peft = LoraConfig(r=R, lora_alpha=ALPHA, lora_dropout=DROPOUT, target_modules=MODULES, task_type="CAUSAL_LM")
        trainer = SFTTrainer(model=model, args=config, train_dataset=data, processing_class=tokenizer, peft_config=peft)
        started = time.perf_counter()
        result = trainer.train()
        seconds = time.perf_counter() - started
    return {"tokens": int(trainer.state.num_input_tokens_seen), "seconds": round(seconds, 3), "final_loss": result.training_loss}


def child(mode: str, base: str, rows: str, steps: int, threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    result = (run_dlm if mode == "dlm" else run_trl)(Path(base), Path(rows), steps)
    result["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print("RESULT " + json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", nargs=3, metavar=("MODE", "BASE", "ROWS"))
    args = parser.parse_args()
    if args.child:
        child(*args.child, args.steps, args.threads)
        return
    home = Path(os.environ.get("DLM_HOME") or ROOT / "benchmarks" / "_work" / "home")
    base, rows = prepare(home)
    results = {}
    for mode in ("trl", "dlm"):
        proc = subprocess.run([sys.executable, __file__, "--steps", str(args.steps), "--threads", str(args.threads),
                               "--child", mode, str(base), str(rows)], capture_output=True, text=True)
        line = next((l for l in proc.stdout.splitlines() if l.startswith("RESULT ")), None)
        if line is None:
            sys.exit(f"{mode} run failed:\n{proc.stderr[-3000:]}")
        results[mode] = json.loads(line[7:])
        r = results[mode]
        print(f"{mode:4s} {r['tokens']:7d} tokens in {r['seconds']:7.1f}s = {r['tokens'] / r['seconds']:6.0f} tok/s, "
              f"peak RSS {r['peak_rss_mib']} MiB, final loss {r['final_loss']:.3f}", flush=True)
    dlm, trl = (results[m]["tokens"] / results[m]["seconds"] for m in ("dlm", "trl"))
    print(f"ratio dlm/TRL tokens/s: {dlm / trl:.2f}x (aim >= 1.5x); "
          f"peak RSS dlm/TRL: {results['dlm']['peak_rss_mib'] / results['trl']['peak_rss_mib']:.2f}")


if __name__ == "__main__":
    main()
