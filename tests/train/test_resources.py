"""Resource estimates read from config.json: the trainable count matches what peft really trains,
the memory figures follow the documented formula, and a plan that cannot fit is refused in one
line that names the fix."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from dlmbuild.errors import EXIT_ENVIRONMENT, EnvironmentProblem
from dlmbuild.train import resources
from dlmbuild.train.device import DevicePlan
from dlmbuild.train.packing import pack
from dlmbuild.train.plan import TrainPlan
from dlmbuild.train.recipe import train_adapter
from dlmbuild.train.resources import FRAMEWORK_BYTES, check_resources, estimate, projection_shapes

CPU = DevicePlan("cpu", None, 1, "bitwise")

PLAN = TrainPlan(adapter="default", kind="lora", r=4, alpha=8.0, dropout=0.0, target_modules="auto", learning_rate=5e-3,
                 epochs=1, steps=1, micro_batch=2, grad_accum=1, scheduler="constant", warmup_steps=0, optimizer="adamw",
                 seed=1, sequence_len=16, blocks=1)

# name -> LlamaConfig arguments
CONFIGS = {
    # hidden 16, 4 heads of 4, 2 kv heads, MLP 32
    "gqa": dict(hidden_size=16, intermediate_size=32, num_attention_heads=4, num_key_value_heads=2),
    # heads wider than hidden/heads: q projects 16 -> 4*8 = 32, o 32 -> 16, k/v 16 -> 8
    "head_dim": dict(hidden_size=16, intermediate_size=24, num_attention_heads=4, num_key_value_heads=1, head_dim=8),
    # plain multi-head attention
    "mha": dict(hidden_size=12, intermediate_size=20, num_attention_heads=3, num_key_value_heads=3),
}


@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> dict[str, Path]:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    out = {}
    for name, args in CONFIGS.items():
        torch.manual_seed(0)
        config = LlamaConfig(vocab_size=30, num_hidden_layers=2, max_position_embeddings=64, **args)
        path = tmp_path_factory.mktemp(name)
        LlamaForCausalLM(config).save_pretrained(str(path))
        out[name] = path
    return out


def real_trainable(path: Path, plan: TrainPlan, tmp_path: Path) -> int:
    from dlmbuild.train.base_model import _load

    base = _load(path, "cpu", False)
    blocks = pack([{"input_ids": [3, 4, 5, 6, 7]}], plan.sequence_len)
    return train_adapter(base, plan, CPU, blocks, 0, tmp_path / "adapter", base_key="tiny")["trainable_params"]


@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"target_modules": ("q_proj", "v_proj")},
        {"target_modules": ("down_proj", "k_proj", "o_proj")},
        {"kind": "dora"},
        {"kind": "dora", "r": 2, "target_modules": ("gate_proj", "up_proj")},
    ],
    ids=["lora-auto", "lora-qv", "lora-kod", "dora-auto", "dora-mlp"],
)
def test_estimated_trainable_params_match_the_real_count(bases, tmp_path, config, changes):
    plan = replace(PLAN, **changes)
    assert estimate(plan, bases[config]).trainable_params == real_trainable(bases[config], plan, tmp_path)


def test_estimate_by_hand(bases):
    path = bases["gqa"]
    assert projection_shapes(json.loads((path / "config.json").read_text())) == {
        "q_proj": (16, 16), "k_proj": (16, 8), "v_proj": (16, 8), "o_proj": (16, 16),
        "gate_proj": (16, 32), "up_proj": (16, 32), "down_proj": (32, 16),
    }
    guess = estimate(PLAN, path)
    trainable = 2 * 4 * (32 + 24 + 24 + 32 + 48 + 48 + 48)
    assert guess.trainable_params == trainable == 2048
    assert guess.adapter_bytes == 2048 * 4 + 64 * 1024
    weights = sum(p.stat().st_size for p in path.glob("*.safetensors"))
    tokens = 2 * 16
    activations = tokens * 2 * (16 * 16 + 4 * 32) * 4   # per token per layer, float32
    logits = tokens * 30 * 4 * 3                       # logits, their gradient, the float32 copy
    optimizer = 2048 * 4 * 4
    assert guess.peak_bytes == weights + activations + logits + optimizer + FRAMEWORK_BYTES
    # a qlora plan counts the weights at a quarter
    assert estimate(replace(PLAN, kind="qlora"), path).peak_bytes == guess.peak_bytes - weights + weights // 4


def test_estimate_of_a_folder_without_config_is_empty(tmp_path):
    guess = estimate(PLAN, tmp_path)
    assert guess.trainable_params == 0
    assert guess.peak_bytes == FRAMEWORK_BYTES


# ---------------------------------------------------------------- refusals


@pytest.fixture
def checked(monkeypatch):
    monkeypatch.delenv("DLM_SKIP_RESOURCE_CHECK", raising=False)
    monkeypatch.setattr(resources, "available_memory", lambda device: 64 * 1024**3)
    monkeypatch.setattr(resources, "free_disk", lambda path: 64 * 1024**3)
    return monkeypatch


def test_a_plan_that_fits_returns_the_estimate(bases, tmp_path, checked):
    assert check_resources(PLAN, CPU, bases["gqa"], tmp_path) == estimate(PLAN, bases["gqa"])


def test_too_little_memory_is_refused_in_one_line(bases, tmp_path, checked):
    devices = []
    checked.setattr(resources, "available_memory", lambda device: devices.append(device) or 100 * 1024**2)
    with pytest.raises(EnvironmentProblem) as info:
        check_resources(replace(PLAN, micro_batch=8, sequence_len=64), CPU, bases["gqa"], tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert "training 'default' needs about 0.6 GiB of memory but 0.1 GiB is free" in message
    assert "lower training.micro_batch_size (now 8) or training.sequence_len (now 64)" in message
    assert info.value.exit_code == EXIT_ENVIRONMENT
    assert devices == ["cpu"]


def test_memory_is_not_checked_when_unknown(bases, tmp_path, checked):
    checked.setattr(resources, "available_memory", lambda device: None)
    assert check_resources(PLAN, CPU, bases["gqa"], tmp_path).trainable_params == 2048


def test_too_little_disk_is_refused_in_one_line(bases, tmp_path, checked):
    seen = []
    checked.setattr(resources, "free_disk", lambda path: seen.append(path) or 10 * 1024**2)
    store = tmp_path / "store"
    with pytest.raises(EnvironmentProblem) as info:
        check_resources(PLAN, CPU, bases["gqa"], store)
    message = str(info.value)
    assert "\n" not in message
    # need = 2 * adapter bytes (2 * 73728) + 64 MiB = 64.14 MiB
    assert f"training 'default' needs about 64 MiB of disk in {store} but 10 MiB is free" in message
    assert "dlm cache prune" in message
    assert info.value.exit_code == EXIT_ENVIRONMENT
    assert seen == [store]


def test_disk_exactly_enough_passes(bases, tmp_path, checked):
    need = 2 * (2048 * 4 + 64 * 1024) + 64 * 1024**2
    checked.setattr(resources, "free_disk", lambda path: need)
    check_resources(PLAN, CPU, bases["gqa"], tmp_path)
    checked.setattr(resources, "free_disk", lambda path: need - 1)
    with pytest.raises(EnvironmentProblem):
        check_resources(PLAN, CPU, bases["gqa"], tmp_path)


def test_skip_variable_skips_both_checks(bases, tmp_path, checked):
    checked.setattr(resources, "available_memory", lambda device: 1)
    checked.setattr(resources, "free_disk", lambda path: 0)
    checked.setenv("DLM_SKIP_RESOURCE_CHECK", "1")
    assert check_resources(PLAN, CPU, bases["gqa"], tmp_path) == estimate(PLAN, bases["gqa"])


def test_real_probes_answer_on_this_machine(tmp_path):
    memory = resources.available_memory("cpu")
    assert memory is None or memory > 0
    # a store that does not exist yet is measured at its nearest existing parent
    assert resources.free_disk(tmp_path / "not" / "yet") == resources.free_disk(tmp_path) > 0
