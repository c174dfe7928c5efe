"""How one optimizer step of 4 x 512 tokens is best shaped on this machine: micro-batch size
(blocks per forward, the rest accumulated) and gradient checkpointing, against the shape dlm used
before (4 blocks in one forward, checkpointing on), run back to back in the same session.

Each shape runs in its own child process (peak RSS is its own): the embedded SmolLM2-135M with
LoRA r=8 on every linear projection, bf16 autocast where the CPU has it (as ``precision: auto``
picks), random token blocks of 512, one warm-up step, then ``--steps`` timed steps. Prints
seconds per step, tokens/s, peak RSS and the ratio to the baseline.

    .venv/bin/python benchmarks/step_shape.py [--steps 2] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BASELINE = (4, True)  # (micro-batch, checkpointing): dlm's default until 2026-12-02
SHAPES = [BASELINE, (1, True), (2, False), (1, False)]
BLOCKS, SEQ = 4, 512

CHILD = """
import json, resource, sys, time
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM
from dlmbuild.train.device import pick_device, autocast_context
base, micro, checkpointing, steps, threads = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", int(sys.argv[4]), int(sys.argv[5])
torch.set_num_threads(threads)
device = pick_device("auto")
model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
if checkpointing:
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
modules = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=modules))
model.train()
ids = torch.randint(0, 49000, (micro, %d), generator=torch.Generator().manual_seed(0))
def step():
    for _ in range(%d // micro):
        with autocast_context(device):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
    model.zero_grad(set_to_none=True)
step()
start = time.perf_counter()
for _ in range(steps):
    step()
seconds = (time.perf_counter() - start) / steps
print(json.dumps({"seconds": seconds, "precision": device.autocast or "float32",
                  "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6}))
""" % (SEQ, BLOCKS)


def base_folder(home: Path) -> str:
    from dlmbuild.bases.resolve import resolve_base

    return str(resolve_base("smollm2-135m", ROOT / "examples", home=home, materialize=True).path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = base_folder(Path(os.environ.get("DLM_HOME") or tmp))
        results = {}
        for micro, checkpointing in SHAPES:
            done = subprocess.run([sys.executable, "-c", CHILD, base, str(micro), "1" if checkpointing else "0", str(args.steps),
                                   str(args.threads)], capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
            if done.returncode != 0:
                sys.exit(done.stderr[-2000:])
            results[(micro, checkpointing)] = json.loads(done.stdout.strip().splitlines()[-1])
    base_s = results[BASELINE]["seconds"]
    print(f"one step = {BLOCKS} x {SEQ} tokens, {results[BASELINE]['precision']}, {args.threads} threads")
    print(f"{'micro x accum':>14} {'checkpointing':>14} {'s/step':>8} {'tok/s':>7} {'peak GB':>8} {'speed vs baseline':>18}")
    for (micro, checkpointing), r in results.items():
        mark = " (baseline)" if (micro, checkpointing) == BASELINE else ""
        print(f"{micro:>6} x {BLOCKS // micro:<5} {'on' if checkpointing else 'off':>14} {r['seconds']:>8.2f} "
              f"{BLOCKS * SEQ / r['seconds']:>7.0f} {r['peak_gb']:>8.2f} {base_s / r['seconds']:>17.2f}x{mark}")


if __name__ == "__main__":
    main()
