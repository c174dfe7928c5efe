"""The preference phase's plan: every ``auto`` knob of ``training.preference`` resolved.

Settings come from ``training.preference``, overridden per adapter by
``training.adapters.<name>.preference``. Steps: ``steps`` when given, else ``num_epochs`` passes
over the pairs (``micro_batch_size`` pairs per micro-batch), where ``auto`` epochs means enough
passes to reach about ``TARGET_STEPS`` optimizer steps, at most ``MAX_AUTO_EPOCHS``: a document
holds a handful of triples, and one pass over six of them is two steps, too few to move anything.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from dlmbuild.train.plan import adapter_seed

TARGET_STEPS = 30
MAX_AUTO_EPOCHS = 30
WARMUP_RATIO = 0.1


@dataclass(frozen=True)
class PreferencePlan:
    adapter: str
    method: str  # dpo | orpo
    beta: float
    learning_rate: float
    epochs: int
    steps: int
    pairs: int
    micro_batch: int
    grad_accum: int
    warmup_steps: int
    optimizer: str
    seed: int

    def as_dict(self) -> dict:
        return asdict(self)


def preference_settings(training, adapter: str):
    """``training.preference`` with the adapter's own ``preference`` block laid over it."""
    spec = training.adapters.get(adapter) if training.adapters else None
    own = getattr(spec, "preference", None) if spec is not None else None
    if own is None:
        return training.preference
    return training.preference.model_copy(update=own.model_dump(exclude_none=True))


def preference_enabled(training, adapter: str) -> bool:
    return bool(preference_settings(training, adapter).enabled)


def make_preference_plan(training, adapter: str, pairs: int) -> PreferencePlan:
    settings = preference_settings(training, adapter)
    micro = training.micro_batch_size
    steps_per_epoch = max(1, math.ceil(pairs / (micro * training.grad_accum)))
    epochs = settings.num_epochs
    if epochs == "auto":
        epochs = max(1, min(MAX_AUTO_EPOCHS, math.ceil(TARGET_STEPS / steps_per_epoch)))
    steps = steps_per_epoch * epochs
    if settings.steps != "auto":  # an explicit step count wins; epochs then say how many passes that is
        steps = settings.steps
        epochs = math.ceil(steps / steps_per_epoch)
    return PreferencePlan(adapter=adapter, method=settings.method, beta=float(settings.beta),
                          learning_rate=float(settings.learning_rate), epochs=int(epochs), steps=int(steps), pairs=pairs,
                          micro_batch=micro, grad_accum=training.grad_accum, warmup_steps=int(steps * WARMUP_RATIO),
                          optimizer=training.optimizer, seed=adapter_seed(training.seed, adapter) ^ 0x5EED)
