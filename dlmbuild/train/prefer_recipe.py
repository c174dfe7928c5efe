"""The preference phase's loop: start from the supervised adapter and train it on triples.

The policy is the supervised (SFT) adapter loaded trainable. DPO's reference is the same SFT
adapter, frozen; since it never changes, its answer log-probabilities are computed once, before
the first step, with the freshly loaded (and so still identical) model: one forward per pair in
all, no second copy of the adapter, no reference pass per step. ORPO needs no reference.

Like the supervised recipe (``recipe.py``) it is a plain loop: seeded pair order, linear decay
after a short warmup, gradient clipping at 1.0, the KL anchor to the base on general text, and
cancellation between steps; the same seed gives the same bytes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from dlmbuild.train.device import DevicePlan, autocast_context
from dlmbuild.train.preference_loss import answer_logps, dpo_loss, orpo_loss, pair_batch
from dlmbuild.train.preference_plan import PreferencePlan
from dlmbuild.train.recipe import StepReport, anchor_kl, optimizer_setup, optimizer_step, save_adapter, seed_everything


def lr_factor(plan: PreferencePlan, step: int) -> float:
    if plan.warmup_steps and step < plan.warmup_steps:
        return (step + 1) / (plan.warmup_steps + 1)
    return max(0.0, 1.0 - (step - plan.warmup_steps) / max(1, plan.steps - plan.warmup_steps))


def pair_order(n: int, plan: PreferencePlan, generator) -> list[list[list[int]]]:
    """Pair indices per step (``grad_accum`` micro-batches of ``micro_batch``), a fresh seeded
    permutation every pass, cut to ``plan.steps``."""
    import torch

    order: list[int] = []
    while len(order) < plan.steps * plan.grad_accum * plan.micro_batch and n:
        order += torch.randperm(n, generator=generator).tolist()
    micros = [order[i : i + plan.micro_batch] for i in range(0, len(order), plan.micro_batch)]
    return [micros[i : i + plan.grad_accum] for i in range(0, len(micros), plan.grad_accum)][: plan.steps]


def reference_logps(model, pairs: list[dict], pad_id: int, device: DevicePlan, micro: int) -> list[tuple[float, float]]:
    """(chosen, rejected) summed answer log-probabilities of every pair under ``model`` as it is."""
    import torch

    out: list[tuple[float, float]] = []
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for start in range(0, len(pairs), micro):
            with autocast_context(device):
                summed, _ = answer_logps(model, pair_batch(pairs[start : start + micro]), pad_id, device.device)
            out += [(float(summed[i]), float(summed[i + 1])) for i in range(0, len(summed), 2)]
    model.train(was_training)
    return out


def pair_loss(model, plan: PreferencePlan, pairs: list[dict], reference: list[tuple[float, float]] | None, pad_id: int,
              device: DevicePlan):
    """(loss, margin) of one micro-batch: DPO's reward margin or ORPO's log odds ratio."""
    import torch

    with autocast_context(device):
        summed, count = answer_logps(model, pair_batch(pairs), pad_id, device.device)
    chosen, rejected = summed[0::2], summed[1::2]
    if plan.method == "dpo":
        ref = torch.tensor(reference, dtype=torch.float32, device=summed.device)
        return dpo_loss(chosen, rejected, ref[:, 0], ref[:, 1], plan.beta)
    return orpo_loss(chosen, count[0::2], rejected, count[1::2], plan.beta)


def train_preference(base, plan: PreferencePlan, device: DevicePlan, pairs: list[dict], sft_dir: Path, out_dir: Path, *,
                     base_key: str, pad_id: int, on_step: Callable[[StepReport], None] = lambda r: None,
                     check_cancelled: Callable[[], None] = lambda: None, anchor: list | None = None,
                     anchor_weight: float = 0.0) -> dict:
    """Train the adapter in ``sft_dir`` on ``pairs`` (tokenized triples) and save the result in
    ``out_dir``; the base is restored whatever happens."""
    import json

    from peft import PeftModel

    seed_everything(plan.seed)
    modules = tuple(json.loads((Path(sft_dir) / "adapter_config.json").read_text())["target_modules"])
    was_training = base.training
    model = PeftModel.from_pretrained(base, str(sft_dir), is_trainable=True)
    try:
        reference = reference_logps(model, pairs, pad_id, device, plan.micro_batch) if plan.method == "dpo" else None
        params, optimizer, schedule, generator = optimizer_setup(plan, model, lr_factor)
        model.train()
        started = time.perf_counter()
        done, last_loss, last_margin, first_margin = 0, float("nan"), float("nan"), None
        tokens_seen = 0
        references: dict = {}  # the base's hidden states per anchor block, computed once
        for index, step in enumerate(pair_order(len(pairs), plan, generator)):
            check_cancelled()
            t0 = time.perf_counter()
            step_loss, step_margin, tokens = 0.0, 0.0, 0
            for micro in step:
                chosen = [pairs[i] for i in micro]
                ref = [reference[i] for i in micro] if reference is not None else None
                loss, margin = pair_loss(model, plan, chosen, ref, pad_id, device)
                (loss / len(step)).backward()
                step_loss += float(loss.detach()) / len(step)
                step_margin += float(margin) / len(step)
                tokens += sum(2 * len(p["prompt_ids"]) + len(p["chosen_ids"]) + len(p["rejected_ids"]) for p in chosen)
            if anchor and anchor_weight > 0:
                which = index % len(anchor)
                kl = anchor_kl(model, anchor[which], pad_id, device, references, which) * anchor_weight
                kl.backward()
                del kl
            lr = optimizer_step(params, optimizer, schedule)
            done, last_loss, last_margin = index + 1, step_loss, step_margin
            first_margin = step_margin if first_margin is None else first_margin
            tokens_seen += tokens
            on_step(StepReport(done, plan.steps, step_loss, lr, tokens, time.perf_counter() - t0, time.perf_counter() - started))
        elapsed = time.perf_counter() - started
        save_adapter(model, out_dir, base_key, modules)
        return {"steps": done, "final_loss": last_loss, "first_margin": first_margin, "final_margin": last_margin,
                "tokens": tokens_seen, "seconds": round(elapsed, 3),
                "tokens_per_s": round(tokens_seen / elapsed, 1) if elapsed > 0 else 0.0, "target_modules": list(modules)}
    finally:
        restored = model.unload()
        restored.train(was_training)
