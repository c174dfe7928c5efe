"""The training recipe for one adapter: ``setup`` (seed, wrap the base), ``train`` (the loop),
``save`` and ``cleanup`` (unwrap the base). A plain loop rather than a Trainer: measured 1.7x
TRL's SFTTrainer throughput on this kind of CPU (no per-step entropy/accuracy metrics, no
gradient checkpointing), and every line that affects the adapter bytes is here to read.

Supports LoRA, DoRA and QLoRA (peft + bitsandbytes), bf16/fp16 autocast, gradient accumulation,
cosine/linear/constant schedules with warmup, AdamW/SGD/Adafactor/8-bit AdamW, packed blocks
whose rows cannot attend to each other, cancellation between steps, and the anchor: a KL penalty
to the base on general text that keeps the model's general ability (see anchor.py). The loss is the mean over
trained tokens of a whole optimizer step (not a mean of micro-batch means), so accumulation does
not change what is optimized.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dlmbuild.errors import EnvironmentProblem
from dlmbuild.train.chunked_loss import kl_to_reference_mean, reference_hidden, token_loss_sum
from dlmbuild.train.device import DevicePlan, autocast_context
from dlmbuild.train.packing import Block, collate
from dlmbuild.train.plan import TrainPlan
from dlmbuild.train.reproduce import count_reproduced


@dataclass
class StepReport:
    """What one optimizer step did, for progress lines and metrics."""

    step: int
    steps: int
    loss: float
    lr: float
    tokens: int  # tokens processed in this step (non-padding)
    seconds: float
    elapsed: float

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


def seed_everything(seed: int) -> None:
    """Seed every generator training draws from (Python, torch, numpy), so a seed gives the
    same adapter bytes."""
    import random

    import torch

    random.seed(seed)
    torch.manual_seed(seed)
    try:
        import numpy

        numpy.random.seed(seed % 2**32)
    except ImportError:
        pass


def step_batches(n_blocks: int, plan: TrainPlan, generator) -> list[list[list[int]]]:
    """Block indices per optimizer step, each a list of ``grad_accum`` micro-batches: a fresh
    seeded permutation every epoch, cut into micro-batches, truncated to ``plan.steps``."""
    import torch

    order: list[int] = []
    micro = plan.micro_batch
    while len(order) < plan.steps * plan.grad_accum * micro:
        order += torch.randperm(n_blocks, generator=generator).tolist()
        if n_blocks == 0:
            break
    micros = [order[i : i + micro] for i in range(0, len(order), micro)]
    steps = [micros[i : i + plan.grad_accum] for i in range(0, len(micros), plan.grad_accum)]
    return steps[: plan.steps]


# Past the floor (see plan.py), a second decay cycle from this fraction of the peak rate.
EXTENSION_PEAK = 0.5


def lr_factor(plan: TrainPlan, step: int) -> float:
    """Multiplier of the peak learning rate at 0-based ``step``.

    With a reproduction check the schedule runs to zero at the floor (``plan.check_from``),
    exactly as a plan without the check would, so a document the floor already teaches trains as
    before; the steps past it, when they are needed, decay again from ``EXTENSION_PEAK``."""
    if plan.warmup_steps and step < plan.warmup_steps and plan.scheduler != "constant":
        return (step + 1) / (plan.warmup_steps + 1)
    if plan.scheduler in ("constant", "constant_with_warmup"):
        return 1.0
    start, end, peak = plan.warmup_steps, plan.check_from or plan.steps, 1.0
    if plan.check_from and step >= plan.check_from:
        start, end, peak = plan.check_from, plan.steps, EXTENSION_PEAK
    progress = min(1.0, (step - start) / max(1, end - start))
    if plan.scheduler == "linear":
        return peak * max(0.0, 1.0 - progress)
    return peak * 0.5 * (1.0 + math.cos(math.pi * progress))


def optimizer_setup(plan, model, factor: Callable):
    """The trainable parameters, their optimizer, the learning-rate schedule (``factor(plan,
    step)``) and the seeded generator that orders batches: one setup for every recipe (SFT here,
    the preference phase in prefer_recipe), so both draw in the same order from the same seed."""
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(plan, params)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: factor(plan, s))
    generator = torch.Generator().manual_seed(plan.seed)
    return params, optimizer, schedule, generator


def make_optimizer(plan: TrainPlan, params):
    """The optimizer the plan names, with weight decay off (AdamW's own default is 0.01) and
    SGD with momentum 0.9."""
    import torch

    if plan.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=plan.learning_rate, weight_decay=0.0)
    if plan.optimizer == "sgd":
        return torch.optim.SGD(params, lr=plan.learning_rate, momentum=0.9)
    if plan.optimizer == "adafactor":
        from transformers.optimization import Adafactor

        return Adafactor(params, lr=plan.learning_rate, relative_step=False, scale_parameter=False, warmup_init=False)
    try:
        import bitsandbytes
    except Exception:
        raise EnvironmentProblem("optimizer: adamw_8bit needs bitsandbytes, which is not usable here; use optimizer: adamw") from None
    return bitsandbytes.optim.AdamW8bit(params, lr=plan.learning_rate, weight_decay=0.0)


def lora_config(plan: TrainPlan, modules: tuple[str, ...]):
    """The peft config for one adapter: no bias (only A, B and DoRA's magnitude are trained,
    which every export path can represent), dropout as the plan says."""
    from peft import LoraConfig

    return LoraConfig(r=plan.r, lora_alpha=plan.alpha, lora_dropout=plan.dropout, target_modules=list(modules),
                      use_dora=plan.kind == "dora", bias="none", task_type="CAUSAL_LM")


def anchor_kl(model, block: Block, pad_id: int, device: DevicePlan, references: dict | None = None, index: int = 0):
    """Mean KL(base || adapted) over one block of general text: how far the adapter moved the
    model's predictions on text the document is not about (computed in chunks, see
    ``chunked_loss``). ``references``, kept by the caller across steps, holds the base's hidden
    states per anchor block ``index``: the base does not change while an adapter trains, so
    they are computed once (the same numbers)."""
    references = {} if references is None else references
    batch = {k: v.to(device.device) for k, v in collate([block], pad_id).items()}
    with autocast_context(device):
        if index not in references:
            references[index] = reference_hidden(model, batch)
        return kl_to_reference_mean(model, batch, references[index])


def train_adapter(base, plan: TrainPlan, device: DevicePlan, blocks: list[Block], pad_id: int, out_dir: Path, *,
                  base_key: str, on_step: Callable[[StepReport], None] = lambda r: None,
                  check_cancelled: Callable[[], None] = lambda: None, anchor: list[Block] | None = None,
                  anchor_weight: float = 0.0, world: tuple[int, int] = (0, 1), answers: list | None = None,
                  on_check: Callable[[int, int, int], None] = lambda step, reproduced, total: None,
                  probes: list | None = None) -> dict:
    """Train one adapter on ``blocks`` and save it as a standard PEFT folder in ``out_dir``.
    The base is restored (adapter layers removed) whatever happens.

    ``world`` is (rank, size) under data parallelism (train/distributed.py): every rank draws
    the same seeded batches, each step holds ``grad_accum * size`` micro-batches, rank r runs
    every size-th one from r, and gradients are summed across ranks before the optimizer step.
    The loss of each micro-batch is divided by the step's trained tokens over all ranks, so the
    summed gradient is exactly the single-process one; only rank 0 saves.

    ``answers`` (``train/reproduce.AnswerBlock``s) with ``plan.check_from`` set: from that step
    on, at every epoch boundary, stop as soon as every answer is reproduced (``on_check`` hears
    each verdict). The plan's steps are then a budget.

    ``probes`` (``train/probes.Probe``s): run on the trained model before the adapter layers
    come off, written beside the adapter as the behaviour ``dlm verify`` compares across
    machine classes."""
    import dataclasses

    import torch
    from peft import get_peft_model

    from dlmbuild.train.base_model import linear_module_names

    modules = linear_module_names(base) if plan.target_modules == "auto" else tuple(plan.target_modules)
    if plan.kind == "qlora":
        from peft import prepare_model_for_kbit_training

        base = prepare_model_for_kbit_training(base, use_gradient_checkpointing=False)
    was_training = base.training
    if plan.checkpointing:
        # non-reentrant: works with frozen inputs and keeps the RNG state, so the bytes match a
        # run without it
        base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    seed_everything(plan.seed)  # before the adapter is initialised: its A matrices are random draws
    model = get_peft_model(base, lora_config(plan, modules))
    try:
        params, optimizer, schedule, generator = optimizer_setup(plan, model, lr_factor)
        model.train()
        started = time.perf_counter()
        last_loss = float("nan")
        seen = 0
        done = 0
        reproduced = None
        # float16 gradients of a per-token-mean loss underflow: scale them (bf16 needs no scaler)
        scaler = torch.amp.GradScaler(device.device) if device.autocast == "float16" else None
        rank, size = world
        references: dict = {}  # the base's hidden states per anchor block, computed once
        schedule_plan = dataclasses.replace(plan, grad_accum=plan.grad_accum * size)
        for index, every in enumerate(step_batches(len(blocks), schedule_plan, generator)):
            check_cancelled()
            t0 = time.perf_counter()
            trained = sum(blocks[i].trained_tokens for mb in every for i in mb)
            step_loss = 0.0
            tokens = 0
            for mb in every[rank::size]:
                batch = {k: v.to(device.device) for k, v in collate([blocks[i] for i in mb], pad_id).items()}
                tokens += sum(len(blocks[i]) for i in mb)
                with autocast_context(device):
                    loss = token_loss_sum(model, batch) / max(1, trained)
                (scaler.scale(loss) if scaler else loss).backward()
                step_loss += float(loss.detach())
                del loss
            if anchor and anchor_weight > 0:
                which = (index * size + rank) % len(anchor)
                kl = anchor_kl(model, anchor[which], pad_id, device, references, which) * (anchor_weight / size)
                (scaler.scale(kl) if scaler else kl).backward()
                del kl
            if size > 1:
                step_loss, tokens = all_reduce_grads(params, step_loss, tokens)
            lr = optimizer_step(params, optimizer, schedule, scaler)
            seen += tokens
            last_loss = step_loss
            done = index + 1
            on_step(StepReport(done, plan.steps, step_loss, lr, tokens, time.perf_counter() - t0, time.perf_counter() - started))
            if answers and due_for_check(plan, done):
                reproduced = count_reproduced(model, answers, pad_id, device.device)
                on_check(done, *reproduced)
                if reproduced[0] == reproduced[1]:
                    break
        elapsed = time.perf_counter() - started
        if rank == 0:
            save_adapter(model, out_dir, base_key, modules)
            if probes:
                from dlmbuild.train.probes import run_probes, write_probes

                write_probes(out_dir, run_probes(model, probes, device.device))
        return {"steps": done, "budget_steps": plan.steps, "reproduced": list(reproduced) if reproduced else None,
                "final_loss": last_loss, "tokens": seen, "seconds": round(elapsed, 3),
                "tokens_per_s": round(seen / elapsed, 1) if elapsed > 0 else 0.0, "target_modules": list(modules),
                "trainable_params": sum(p.numel() for p in params)}
    finally:
        restored = model.unload()
        restored.train(was_training)
        if plan.checkpointing:
            restored.gradient_checkpointing_disable()  # the base is shared with later adapters


def optimizer_step(params, optimizer, schedule, scaler=None) -> float:
    """Clip the gradients to norm 1.0, step the optimizer (through the fp16 scaler if any) and
    the schedule, clear the gradients; the learning rate the step used."""
    import torch

    if scaler:
        scaler.unscale_(optimizer)
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    lr = optimizer.param_groups[0]["lr"]
    if scaler:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    schedule.step()
    optimizer.zero_grad(set_to_none=True)
    return lr


def due_for_check(plan: TrainPlan, step: int) -> bool:
    """Whether the reproduction check runs after 1-based ``step``: at the floor, then at every
    epoch boundary, and at the last step of the budget (so the summary always has a verdict)."""
    if not plan.check_from or step < plan.check_from:
        return False
    return (step - plan.check_from) % plan.steps_per_epoch == 0 or step == plan.steps


def all_reduce_grads(params, step_loss: float, tokens: int) -> tuple[float, int]:
    """Sum gradients, the step's loss and its token count over every rank."""
    import torch
    import torch.distributed as dist

    for param in params:
        if param.grad is None:
            param.grad = torch.zeros_like(param)
        dist.all_reduce(param.grad)
    totals = torch.tensor([step_loss, float(tokens)], dtype=torch.float64, device=params[0].device)
    dist.all_reduce(totals)
    return float(totals[0]), int(totals[1])


def save_adapter(model, out_dir: Path, base_key: str, modules: tuple[str, ...]) -> None:
    """``save_pretrained``, then make the folder byte-stable (``store.adapter_config``): sorted
    ``target_modules``, the base named by its dlm key, no generated README."""
    from dlmbuild.store.adapter_config import stabilize_adapter_folder

    out_dir = Path(out_dir)
    model.save_pretrained(str(out_dir))
    stabilize_adapter_folder(out_dir, base_key, modules)
