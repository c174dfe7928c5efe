"""The training plan: ``auto`` epochs/steps/lr resolved by hand-computable rules, per-adapter
overrides, stable per-adapter seeds and byte-stable (sorted) target modules."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from dlmbuild.document.schema import TrainingConfig
from dlmbuild.train.plan import AUTO_LR, MAX_AUTO_EPOCHS, TARGET_STEPS, TrainPlan, adapter_seed, make_plan


def test_policy_constants_are_the_documented_ones():
    # the hand-computed figures below assume these
    assert (TARGET_STEPS, MAX_AUTO_EPOCHS) == (60, 30)
    assert AUTO_LR == {"lora": 1e-3, "dora": 1e-3, "qlora": 1e-3}


@pytest.mark.parametrize(
    ("blocks", "micro", "accum", "epochs", "steps"),
    [
        # steps/epoch = ceil(blocks / (micro*accum)); epochs = clamp(ceil(60 / steps_per_epoch), 1, 30)
        (1, 4, 1, 30, 30),      # 1 step/epoch: 60 epochs wanted, capped at 30 -> 30 steps
        (5, 4, 1, 30, 60),      # 2 steps/epoch -> 30 epochs -> 60 steps
        (12, 4, 1, 20, 60),     # 3 steps/epoch -> 20 epochs
        (28, 4, 1, 9, 63),      # 7 steps/epoch -> ceil(60/7)=9 epochs -> 63 steps
        (40, 2, 2, 6, 60),      # 10 steps/epoch (4 blocks per step) -> 6 epochs
        (240, 4, 1, 1, 60),     # 60 steps/epoch -> exactly one epoch
        (1000, 4, 1, 1, 250),   # a large codebase: one pass, 250 steps
        (1001, 4, 1, 1, 251),
    ],
)
def test_auto_epochs_and_steps(blocks, micro, accum, epochs, steps):
    training = TrainingConfig(micro_batch_size=micro, grad_accum=accum)
    plan = make_plan(training, "default", blocks)
    assert (plan.epochs, plan.steps, plan.blocks) == (epochs, steps, blocks)
    assert (plan.micro_batch, plan.grad_accum) == (micro, accum)


def test_explicit_epochs_are_kept():
    plan = make_plan(TrainingConfig(num_epochs=3), "default", 10)  # 3 steps/epoch
    assert (plan.epochs, plan.steps) == (3, 9)
    plan = make_plan(TrainingConfig(num_epochs=100), "default", 1)  # explicit beats MAX_AUTO_EPOCHS
    assert (plan.epochs, plan.steps) == (100, 100)


def test_max_steps_caps_the_steps_only_when_lower():
    assert make_plan(TrainingConfig(max_steps=10), "default", 5).steps == 10  # 60 -> 10
    assert make_plan(TrainingConfig(max_steps=500), "default", 5).steps == 60
    assert make_plan(TrainingConfig(max_steps=100), "default", 1000).steps == 100  # 250 -> 100


@pytest.mark.parametrize(
    ("scheduler", "ratio", "blocks", "warmup"),
    [
        ("cosine", 0.1, 5, 6),                  # int(60 * 0.1)
        ("linear", 0.25, 5, 15),
        ("constant_with_warmup", 0.1, 1, 3),   # int(30 * 0.1)
        ("cosine", 0.1, 1000, 25),             # int(250 * 0.1)
        ("cosine", 0.0, 5, 0),
        ("constant", 0.5, 5, 0),                # constant never warms up
    ],
)
def test_warmup_steps(scheduler, ratio, blocks, warmup):
    plan = make_plan(TrainingConfig(lr_scheduler=scheduler, warmup_ratio=ratio), "default", blocks)
    assert plan.warmup_steps == warmup
    assert plan.scheduler == scheduler


def test_warmup_follows_the_capped_steps():
    plan = make_plan(TrainingConfig(max_steps=10, warmup_ratio=0.2), "default", 5)
    assert (plan.steps, plan.warmup_steps) == (10, 2)


def test_auto_and_explicit_learning_rate():
    assert make_plan(TrainingConfig(), "default", 5).learning_rate == 1e-3
    assert make_plan(TrainingConfig(adapter="dora"), "default", 5).learning_rate == AUTO_LR["dora"]
    plan = make_plan(TrainingConfig(learning_rate=1e-3), "default", 5)
    assert plan.learning_rate == 1e-3 and isinstance(plan.learning_rate, float)


def test_document_wide_knobs_pass_through():
    training = TrainingConfig(adapter="dora", lora_r=12, lora_alpha=24, lora_dropout=0.1, sequence_len=256,
                              optimizer="sgd", target_modules=["v_proj", "q_proj"], seed=7)
    plan = make_plan(training, "default", 5)
    assert (plan.adapter, plan.kind, plan.r, plan.alpha, plan.dropout) == ("default", "dora", 12, 24.0, 0.1)
    assert isinstance(plan.alpha, float)
    assert (plan.sequence_len, plan.optimizer) == (256, "sgd")
    assert plan.target_modules == ("q_proj", "v_proj")  # sorted, a tuple
    assert plan.seed == adapter_seed(7, "default")


def test_default_target_modules_stay_auto():
    plan = make_plan(TrainingConfig(), "default", 5)
    assert plan.target_modules == "auto"
    assert plan.as_dict()["target_modules"] == "auto"


def test_per_adapter_overrides():
    training = TrainingConfig(
        lora_r=8, learning_rate=1e-3, num_epochs=4, target_modules=["o_proj"],
        adapters={
            "facts": {"lora_r": 16, "lora_alpha": 32, "learning_rate": 2e-4, "num_epochs": 2,
                      "target_modules": ["v_proj", "k_proj", "q_proj"], "adapter": "dora", "lora_dropout": 0.0},
            "tone": None,  # inherits everything
            "style": {"learning_rate": "auto", "num_epochs": "auto"},  # explicit auto beats the document value
        },
    )
    facts = make_plan(training, "facts", 10)  # 3 steps/epoch
    assert (facts.kind, facts.r, facts.alpha, facts.dropout, facts.learning_rate) == ("dora", 16, 32.0, 0.0, 2e-4)
    assert (facts.epochs, facts.steps) == (2, 6)
    assert facts.target_modules == ("k_proj", "q_proj", "v_proj")

    tone = make_plan(training, "tone", 10)
    assert (tone.kind, tone.r, tone.alpha, tone.dropout, tone.learning_rate) == ("lora", 8, 16.0, 0.0, 1e-3)
    assert (tone.epochs, tone.steps) == (4, 12)
    assert tone.target_modules == ("o_proj",)

    style = make_plan(training, "style", 10)
    assert style.learning_rate == AUTO_LR["lora"]
    assert (style.epochs, style.steps) == (20, 60)  # ceil(60/3) = 20

    # each adapter gets its own seed
    assert len({facts.seed, tone.seed, style.seed}) == 3


def test_undeclared_adapter_falls_back_to_the_document_knobs():
    training = TrainingConfig(lora_r=4, adapters={"facts": {"lora_r": 16}})
    assert make_plan(training, "other", 5).r == 4


def test_adapter_seed_is_stable_in_range_and_differs_per_name_and_seed():
    # pinned: the seed feeds the adapter bytes, so it must never change between releases
    assert adapter_seed(42, "default") == 1168902520
    assert adapter_seed(42, "facts") == 975420780
    assert adapter_seed(7, "facts") == 813585925
    names = ["default", "facts", "tone", "style", "a", "b", "facts2"]
    seeds = [adapter_seed(42, n) for n in names]
    assert len(set(seeds)) == len(names)
    assert all(0 <= s < 2**31 for s in seeds)
    assert adapter_seed(42, "facts") == adapter_seed(42, "facts")
    assert adapter_seed(0, "facts") != adapter_seed(1, "facts")


def test_adapter_seed_does_not_depend_on_python_hash_randomization():
    code = "from dlmbuild.train.plan import adapter_seed; print(adapter_seed(42, 'facts'))"
    outs = set()
    for hash_seed in ("1", "2", "random"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        outs.add(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.strip())
    assert outs == {str(adapter_seed(42, "facts"))}


def test_plan_as_dict_is_json_ready():
    import json

    plan = make_plan(TrainingConfig(target_modules=["v_proj", "q_proj"]), "default", 5)
    data = plan.as_dict()
    assert data["target_modules"] == ["q_proj", "v_proj"]
    assert json.loads(json.dumps(data)) == data
    assert set(data) == set(TrainPlan.__dataclass_fields__)


@pytest.mark.parametrize(
    ("blocks", "floor", "budget", "per_epoch"),
    [
        # floor = the plan without answers; budget = 4x its epochs, at most 120 epochs / 300 steps
        (1, 30, 120, 1),
        (5, 60, 240, 2),
        (28, 63, 252, 7),     # 9 epochs floor; 300 // 7 = 42 epochs; 4 * 9 = 36 epochs -> 252 steps
        (240, 60, 240, 60),
    ],
)
def test_answers_turn_the_auto_plan_into_a_floor_and_a_budget(blocks, floor, budget, per_epoch):
    plan = make_plan(TrainingConfig(), "default", blocks, answers=12)
    assert (plan.check_from, plan.steps, plan.steps_per_epoch) == (floor, budget, per_epoch)
    assert make_plan(TrainingConfig(), "default", blocks).steps == floor  # no answers: as before


def test_no_reproduction_check_when_epochs_are_explicit_or_data_parallel():
    assert make_plan(TrainingConfig(num_epochs=3), "default", 10, answers=5).check_from == 0
    assert make_plan(TrainingConfig(), "default", 10, world_size=2, answers=5).check_from == 0
    capped = make_plan(TrainingConfig(max_steps=20), "default", 1, answers=5)
    assert (capped.steps, capped.check_from) == (20, 20)


@pytest.mark.parametrize(
    ("blocks", "repeats", "floor_epochs"),
    [
        (3, 1.0, 30),    # no written questions: as before
        (8, 4.0, 15),    # 2 steps/epoch: 30 epochs wanted, / sqrt(4) -> 15
        (13, 4.4, 8),    # 4 steps/epoch: 15 epochs, / 2.1 -> 8
        (13, 16.0, 8),   # never below MIN_AUGMENTED_EPOCHS
        (240, 4.0, 1),   # one pass already: never raised to the minimum
    ],
)
def test_the_bases_own_questions_shorten_auto_epochs_by_the_root_of_the_repeats(blocks, repeats, floor_epochs):
    plan = make_plan(TrainingConfig(), "default", blocks, answers=16, repeats=repeats)
    assert plan.check_from == plan.steps_per_epoch * floor_epochs
    assert make_plan(TrainingConfig(num_epochs=5), "default", blocks, answers=16, repeats=repeats).epochs == 5  # explicit: kept
