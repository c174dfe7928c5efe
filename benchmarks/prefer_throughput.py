"""Preference-phase throughput: dlm's plain DPO loop against TRL's DPOTrainer, same session.

Both start from the same LoRA adapter on the embedded SmolLM2-135M (r 8, every linear layer, B=0
so the adapter is the base; the reference is that adapter, frozen: TRL copies it into a frozen
"ref" adapter and, with ``precompute_ref_log_probs``, scores the reference once up front, as dlm
does). Same 12 triples (benchmarks/preference_docs/short_answers.dlm), 4 pairs per step, the
same steps, learning rate, β and linear schedule, float32 on CPU. Printed: seconds per step,
answer-and-prompt tokens per second, and the loss at the first and last step (both must start at
ln 2 = 0.6931; later losses differ a little because TRL tokenizes the chat itself).

    .venv/bin/python benchmarks/prefer_throughput.py [--steps 12]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DOC = ROOT / "benchmarks" / "preference_docs" / "short_answers.dlm"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model

    from dlmbuild.document.parse import parse_document
    from dlmbuild.project import Project
    from dlmbuild.rules.tokenize import chat_rows
    from dlmbuild.train.base_model import _load
    from dlmbuild.train.device import DevicePlan
    from dlmbuild.train.preference_plan import PreferencePlan
    from dlmbuild.train.prefer_recipe import train_preference
    from dlmbuild.train.tokenizer import BaseTokenizer

    torch.set_num_threads(2)
    project = Project.open(DOC, materialize_base=True)
    base_path = Path(project.base().path)
    triples = [t for s in parse_document(DOC).sections for t in s.triples]
    tokenizer = BaseTokenizer(base_path)
    pairs = []
    for t in triples:
        prompt, chosen = chat_rows(tokenizer, None, t.prompt, t.chosen)
        _, rejected = chat_rows(tokenizer, None, t.prompt, t.rejected)
        pairs.append({"prompt_ids": prompt, "chosen_ids": chosen, "rejected_ids": rejected})
    tokens_per_pass = sum(2 * len(p["prompt_ids"]) + len(p["chosen_ids"]) + len(p["rejected_ids"]) for p in pairs)
    tokens = tokens_per_pass * args.steps * 4 / len(pairs)
    work = Path(tempfile.mkdtemp(prefix="dlm-prefer-bench-"))
    torch.manual_seed(0)
    fresh = get_peft_model(_load(base_path, "cpu", False), LoraConfig(r=8, lora_alpha=16, target_modules="all-linear",
                                                                      task_type="CAUSAL_LM"))
    fresh.save_pretrained(str(work / "sft"))
    fresh.unload()
    cpu = DevicePlan("cpu", None, 2, "bitwise")
    plan = PreferencePlan(adapter="default", method="dpo", beta=0.1, learning_rate=1e-4, epochs=4, steps=args.steps,
                          pairs=len(pairs), micro_batch=4, grad_accum=1, warmup_steps=0, optimizer="adamw", seed=0)
    losses = []
    started = time.perf_counter()
    train_preference(_load(base_path, "cpu", False), plan, cpu, pairs, work / "sft", work / "dlm", base_key="b", pad_id=tokenizer.eos_token_id,
                     on_step=lambda r: losses.append(r.loss))
    dlm_s = time.perf_counter() - started

    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    hf_tok = AutoTokenizer.from_pretrained(str(base_path))
    rows = [{"prompt": [{"role": "user", "content": t.prompt}], "chosen": [{"role": "assistant", "content": t.chosen}],
             "rejected": [{"role": "assistant", "content": t.rejected}]} for t in triples]
    model = PeftModel.from_pretrained(_load(base_path, "cpu", False), str(work / "sft"), is_trainable=True)
    config = DPOConfig(output_dir=str(work / "trl"), per_device_train_batch_size=4, max_steps=args.steps, learning_rate=1e-4,
                       beta=0.1, lr_scheduler_type="linear", warmup_steps=0, logging_steps=1, report_to=[], save_strategy="no",
                       use_cpu=True, seed=0, precompute_ref_log_probs=True, dataloader_num_workers=0, disable_tqdm=True)
    trainer = DPOTrainer(model=model, args=config, train_dataset=Dataset.from_list(rows), processing_class=hf_tok)
    started = time.perf_counter()
    trainer.train()
    trl_s = time.perf_counter() - started
    trl_losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    print(f"\nDPO, {args.steps} steps x 4 pairs on the embedded base, CPU float32, 2 threads")
    print(f"  dlm plain loop : {dlm_s:6.1f} s ({dlm_s / args.steps:.2f} s/step, {tokens / dlm_s:6.0f} tok/s), "
          f"loss {losses[0]:.4f} -> {losses[-1]:.4f}")
    print(f"  TRL DPOTrainer : {trl_s:6.1f} s ({trl_s / args.steps:.2f} s/step, {tokens / trl_s:6.0f} tok/s), "
          f"loss {trl_losses[0]:.4f} -> {trl_losses[-1]:.4f}  (includes its reference pre-pass)")
    print(f"  dlm / TRL throughput: {trl_s / dlm_s:.2f}x")


if __name__ == "__main__":
    main()
