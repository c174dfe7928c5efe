"""The training plan: every ``auto`` knob resolved into a number, from the document and its rows.

One function decides, so that ``dlm doctor`` prints exactly what ``:train`` will do. The policy
for small documents (the common case: notes, a handful of Q/A pairs):
  - steps: enough epochs to reach about ``TARGET_STEPS`` optimizer steps, at most
    ``MAX_AUTO_EPOCHS`` passes (a large codebase trains one or two passes instead);
  - learning rate: ``AUTO_LR[kind]``, measured by ``benchmarks/quality.py`` as the rate that
    recalls trained facts while keeping general text loss within budget;
  - nothing held out: a tiny document needs every pair in training (eval is the gate's job);
  - until reproduced: with ``auto`` epochs and Q/A answers to check, the steps above are a
    floor, not the end. From there, at every epoch boundary, training checks whether every
    answer is reproduced (teacher-forced exact match, ``train/reproduce.py``) and stops as soon
    as it is, within a budget of ``REPRODUCE_BUDGET_FACTOR`` times the floor's epochs (at most
    ``REPRODUCE_MAX_EPOCHS`` epochs and ``REPRODUCE_MAX_STEPS`` steps). The learning-rate
    schedule reaches zero at the floor as before, and decays once more from half the peak over
    the steps past it (``recipe.lr_factor``), so a document gets the passes it needs rather
    than a step count tuned on one example.
Precision ``auto`` is bf16 autocast where the hardware runs bf16 natively (CUDA with bf16, a CPU
with AVX512-BF16 or AMX), float32 otherwise; weights stay float32 on CPU either way.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

TARGET_STEPS = 60
MAX_AUTO_EPOCHS = 30
MIN_AUGMENTED_EPOCHS = 8
REPRODUCE_BUDGET_FACTOR = 4
REPRODUCE_MAX_EPOCHS = 120
REPRODUCE_MAX_STEPS = 300
AUTO_LR = {"lora": 1e-3, "dora": 1e-3, "qlora": 1e-3}


@dataclass(frozen=True)
class TrainPlan:
    adapter: str
    kind: str  # lora | dora | qlora
    r: int
    alpha: float
    dropout: float
    target_modules: tuple[str, ...] | str  # 'auto' until the base is loaded
    learning_rate: float
    epochs: int
    steps: int
    micro_batch: int
    grad_accum: int
    scheduler: str
    warmup_steps: int
    optimizer: str
    seed: int
    sequence_len: int
    blocks: int
    steps_per_epoch: int = 1
    check_from: int = 0  # 0: no reproduction check; else the first step after which to check
    checkpointing: bool = False  # recompute activations in backward (same bytes, less memory)

    def as_dict(self) -> dict:
        out = asdict(self)
        out["target_modules"] = list(self.target_modules) if not isinstance(self.target_modules, str) else self.target_modules
        return out


def adapter_seed(doc_seed: int, adapter: str) -> int:
    """A per-adapter seed: the document seed mixed with the adapter's name (stable across runs,
    unlike Python's ``hash``), so two adapters of one document start from different draws."""
    import xxhash

    return xxhash.xxh32_intdigest(adapter.encode(), seed=doc_seed) & 0x7FFFFFFF


def knob(training, spec, name: str):
    """An adapter's own setting where it has one, else the document-wide one."""
    value = getattr(spec, name, None) if spec is not None else None
    return getattr(training, name) if value is None else value


def make_plan(training, adapter: str, blocks: int, world_size: int = 1, answers: int = 0, repeats: float = 1.0) -> TrainPlan:
    """Resolve the plan for ``adapter`` given how many packed blocks its rows fill, how many
    data-parallel processes share each step, and how many Q/A answers it can check for
    reproduction (0: no check; nor under data parallelism, where ranks would have to agree).

    ``repeats``: how many Q/A rows train each of the document's answers on average (1 + the
    base's rewordings and prose questions per answer, ``train/augment.py``). A pass then shows
    every fact several times in several wordings, so ``auto`` epochs are divided by its square
    root (at least ``MIN_AUGMENTED_EPOCHS``): about the original build time, and the
    reproduction check still decides when the document's own answers are learnt."""
    spec = training.adapters.get(adapter) if training.adapters else None
    kind = knob(training, spec, "adapter")
    per_step = training.micro_batch_size * training.grad_accum * world_size
    steps_per_epoch = max(1, math.ceil(blocks / per_step))
    epochs = knob(training, spec, "num_epochs")
    check_from = 0
    if epochs == "auto":
        epochs = max(1, min(MAX_AUTO_EPOCHS, math.ceil(TARGET_STEPS / steps_per_epoch)))
        if repeats > 1:
            epochs = min(epochs, max(MIN_AUGMENTED_EPOCHS, math.ceil(epochs / math.sqrt(repeats))))
        if answers > 0 and world_size == 1:
            check_from = steps_per_epoch * epochs
            budget = min(REPRODUCE_MAX_EPOCHS, epochs * REPRODUCE_BUDGET_FACTOR,
                         max(epochs, REPRODUCE_MAX_STEPS // steps_per_epoch))
            epochs = budget
    steps = steps_per_epoch * epochs
    if training.max_steps is not None:
        steps = min(steps, training.max_steps)
        check_from = min(check_from, steps)
    lr = knob(training, spec, "learning_rate")
    if lr == "auto":
        lr = AUTO_LR[kind]
    modules = knob(training, spec, "target_modules")
    warmup = 0 if training.lr_scheduler == "constant" else int((check_from or steps) * training.warmup_ratio)
    return TrainPlan(
        adapter=adapter, kind=kind, r=knob(training, spec, "lora_r"), alpha=float(knob(training, spec, "lora_alpha")),
        dropout=float(knob(training, spec, "lora_dropout")),
        target_modules=modules if isinstance(modules, str) else tuple(sorted(modules)),
        learning_rate=float(lr), epochs=int(epochs), steps=int(steps), micro_batch=training.micro_batch_size,
        grad_accum=training.grad_accum, scheduler=training.lr_scheduler, warmup_steps=warmup,
        optimizer=training.optimizer, seed=adapter_seed(training.seed, adapter), sequence_len=training.sequence_len,
        blocks=blocks, steps_per_epoch=steps_per_epoch, check_from=check_from,
        checkpointing=bool(getattr(training, "gradient_checkpointing", False)),
    )
