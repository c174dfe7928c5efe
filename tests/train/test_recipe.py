"""The training recipe: schedules at hand-picked steps, the step/micro-batch layout, and
``train_adapter`` on a tiny random-init Llama: parameter count, a loadable PEFT folder with a
byte-stable config, the base left exactly as it was, byte-identical reruns, learning, DoRA,
bf16 autocast and cancellation."""

from __future__ import annotations

import json
import math
import random
from dataclasses import replace
from pathlib import Path

import pytest

from dlmbuild.train.device import DevicePlan
from dlmbuild.train.packing import IGNORE, pack
from dlmbuild.train.plan import TrainPlan
from dlmbuild.train.recipe import StepReport, lr_factor, step_batches, train_adapter

CPU = DevicePlan("cpu", None, 1, "bitwise")
CPU_BF16 = DevicePlan("cpu", "bfloat16", 1, "bitwise")
BASE_KEY = "tiny-llama-test"
PAD = 0

# the tiny Llama: hidden 16, 4 heads of 4, 2 kv heads (k/v project to 8), MLP 32, 2 layers, vocab 30
HIDDEN, INTER, HEADS, KV_HEADS, LAYERS, VOCAB = 16, 32, 4, 2, 2, 30


def make_plan(**changes) -> TrainPlan:
    plan = TrainPlan(adapter="default", kind="lora", r=4, alpha=8.0, dropout=0.0, target_modules="auto",
                     learning_rate=5e-3, epochs=1, steps=4, micro_batch=2, grad_accum=1, scheduler="cosine",
                     warmup_steps=0, optimizer="adamw", seed=1234, sequence_len=16, blocks=0)
    return replace(plan, **changes)


# ---------------------------------------------------------------- schedules


@pytest.mark.parametrize(
    ("scheduler", "step", "factor"),
    [
        # steps 10, warmup 2: warmup is (step+1)/(warmup+1), then decay over the remaining 8 steps
        ("cosine", 0, 1 / 3),
        ("cosine", 1, 2 / 3),
        ("cosine", 2, 1.0),
        ("cosine", 4, 0.5 * (1 + math.cos(math.pi / 4))),  # progress 2/8
        ("cosine", 6, 0.5),                                 # progress 4/8
        ("cosine", 9, 0.5 * (1 + math.cos(7 * math.pi / 8))),
        ("cosine", 10, 0.0),
        ("cosine", 15, 0.0),                                # past the end: clamped
        ("linear", 0, 1 / 3),
        ("linear", 2, 1.0),
        ("linear", 6, 0.5),
        ("linear", 9, 0.125),
        ("linear", 10, 0.0),
        ("linear", 20, 0.0),
        ("constant_with_warmup", 0, 1 / 3),
        ("constant_with_warmup", 1, 2 / 3),
        ("constant_with_warmup", 2, 1.0),
        ("constant_with_warmup", 9, 1.0),
        ("constant", 0, 1.0),                               # constant ignores any warmup
        ("constant", 1, 1.0),
        ("constant", 9, 1.0),
    ],
)
def test_lr_factor(scheduler, step, factor):
    plan = make_plan(scheduler=scheduler, steps=10, warmup_steps=2)
    assert lr_factor(plan, step) == pytest.approx(factor, abs=1e-12)


def test_lr_factor_without_warmup_starts_at_the_peak():
    plan = make_plan(scheduler="cosine", steps=4, warmup_steps=0)
    assert [lr_factor(plan, s) for s in range(4)] == pytest.approx([1.0, 0.5 * (1 + math.cos(math.pi / 4)), 0.5,
                                                                   0.5 * (1 + math.cos(3 * math.pi / 4))])
    plan = make_plan(scheduler="linear", steps=4, warmup_steps=0)
    assert [lr_factor(plan, s) for s in range(4)] == pytest.approx([1.0, 0.75, 0.5, 0.25])


# ---------------------------------------------------------------- step layout


def generator(seed: int = 0):
    import torch

    return torch.Generator().manual_seed(seed)


def test_step_batches_layout_and_epochs_are_permutations():
    plan = make_plan(steps=4, micro_batch=2, grad_accum=2)
    steps = step_batches(5, plan, generator())
    assert len(steps) == 4
    assert all(len(micros) == 2 for micros in steps)
    assert all(len(mb) == 2 for micros in steps for mb in micros)
    flat = [i for micros in steps for mb in micros for i in mb]
    assert len(flat) == 16
    # 16 indices come from 4 epochs of 5: the first three are whole permutations, the fourth begins one
    for epoch in range(3):
        assert sorted(flat[5 * epoch: 5 * epoch + 5]) == [0, 1, 2, 3, 4]
    assert len(set(flat[15:])) == 1 and flat[15] in range(5)


def test_step_batches_one_block_per_micro_batch():
    plan = make_plan(steps=6, micro_batch=1, grad_accum=1)
    steps = step_batches(3, plan, generator(7))
    assert [len(s) for s in steps] == [1] * 6
    flat = [s[0][0] for s in steps]
    assert sorted(flat[:3]) == [0, 1, 2] and sorted(flat[3:]) == [0, 1, 2]


def test_step_batches_keep_every_micro_batch_full_when_blocks_do_not_divide():
    plan = make_plan(steps=3, micro_batch=4, grad_accum=1)
    steps = step_batches(5, plan, generator())
    assert [[len(mb) for mb in micros] for micros in steps] == [[4], [4], [4]]


def test_step_batches_are_seeded():
    plan = make_plan(steps=8, micro_batch=2, grad_accum=1)
    assert step_batches(9, plan, generator(1)) == step_batches(9, plan, generator(1))
    assert step_batches(9, plan, generator(1)) != step_batches(9, plan, generator(2))


def test_step_batches_with_no_blocks_are_empty():
    assert step_batches(0, make_plan(steps=3), generator()) == []


# ---------------------------------------------------------------- training a tiny Llama


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=INTER, num_hidden_layers=LAYERS,
                         num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, max_position_embeddings=64,
                         pad_token_id=PAD, bos_token_id=1, eos_token_id=2)
    path = tmp_path_factory.mktemp("tiny-llama")
    LlamaForCausalLM(config).save_pretrained(str(path))
    return path


@pytest.fixture
def base(base_dir):
    """A fresh base, loaded the way the build loads it (float32, frozen, SDPA)."""
    from dlmbuild.train.base_model import _load

    return _load(base_dir, "cpu", False)


def make_blocks(n_rows: int = 6, seed: int = 0, seq_len: int = 16):
    rng = random.Random(seed)
    rows = []
    for i in range(n_rows):
        length = rng.randint(4, 8)
        ids = [rng.randrange(3, VOCAB) for _ in range(length)]
        mask = [0, 0] + [1] * (length - 2) if i % 2 else None  # instruction-style rows mask their prompt
        rows.append({"input_ids": ids, **({"loss_mask": mask} if mask else {})})
    return pack(rows, seq_len)


def lora_count(r: int) -> int:
    """r*(in+out) for every linear projection of every layer, by hand."""
    head_dim = HIDDEN // HEADS
    shapes = {
        "q_proj": (HIDDEN, HEADS * head_dim), "k_proj": (HIDDEN, KV_HEADS * head_dim), "v_proj": (HIDDEN, KV_HEADS * head_dim),
        "o_proj": (HEADS * head_dim, HIDDEN), "gate_proj": (HIDDEN, INTER), "up_proj": (HIDDEN, INTER), "down_proj": (INTER, HIDDEN),
    }
    return LAYERS * sum(r * (i + o) for i, o in shapes.values())


def snapshot(model) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_base_restored(model, before: dict) -> None:
    import torch

    names = [n for n, _ in model.named_modules()]
    assert not any("lora" in n for n in names)
    assert not any(type(m).__module__.startswith("peft") for m in model.modules())
    after = model.state_dict()
    assert list(after) == list(before)
    for key, value in before.items():
        assert torch.equal(after[key], value), key
    assert not any(p.requires_grad for p in model.parameters())


def train(base, tmp_path, plan=None, device=CPU, blocks=None, name="out", **kwargs):
    out = tmp_path / name
    reports: list[StepReport] = []
    result = train_adapter(base, plan or make_plan(), device, blocks if blocks is not None else make_blocks(), PAD, out,
                           base_key=BASE_KEY, on_step=reports.append, **kwargs)
    return out, result, reports


def test_hand_count_of_the_tiny_model():
    # q 4*(16+16), k 4*(16+8), v 4*(16+8), o 4*(16+16), gate/up 4*(16+32), down 4*(32+16); two layers
    assert lora_count(4) == 2 * (128 + 96 + 96 + 128 + 192 + 192 + 192) == 2048


def test_train_adapter_lora(base, tmp_path):
    from peft import PeftModel

    before = snapshot(base)
    blocks = make_blocks()
    out, result, reports = train(base, tmp_path, make_plan(steps=4), blocks=blocks)

    assert result["trainable_params"] == lora_count(4)
    assert result["steps"] == 4 and len(reports) == 4
    assert result["target_modules"] == ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]
    assert [r.step for r in reports] == [1, 2, 3, 4] and all(r.steps == 4 for r in reports)
    assert result["final_loss"] == reports[-1].loss
    assert all(math.isfinite(r.loss) for r in reports)
    # tokens: each step is 2 blocks; the total is the non-padding tokens of the 8 blocks drawn
    assert result["tokens"] == sum(r.tokens for r in reports) > 0
    # cosine, no warmup, 4 steps: the lr each step ran at
    assert [r.lr for r in reports] == pytest.approx([5e-3 * f for f in (1.0, 0.5 * (1 + math.cos(math.pi / 4)), 0.5,
                                                                         0.5 * (1 + math.cos(3 * math.pi / 4)))])

    assert sorted(p.name for p in out.iterdir()) == ["adapter_config.json", "adapter_model.safetensors"]
    text = (out / "adapter_config.json").read_text(encoding="utf-8")
    config = json.loads(text)
    assert config["target_modules"] == sorted(config["target_modules"]) == result["target_modules"]
    assert config["base_model_name_or_path"] == BASE_KEY
    assert (config["r"], config["lora_alpha"], config["use_dora"]) == (4, 8.0, False)
    assert text == json.dumps(config, indent=2, sort_keys=True) + "\n"

    assert_base_restored(base, before)

    # the saved folder is a standard PEFT adapter: it loads onto the base and changes its output
    import torch

    ids = torch.tensor([blocks[0].input_ids])
    with torch.no_grad():
        plain = base(input_ids=ids).logits
        loaded = PeftModel.from_pretrained(base, str(out))
        adapted = loaded(input_ids=ids).logits
    assert sum(p.numel() for n, p in loaded.named_parameters() if "lora_" in n) == lora_count(4)
    assert not torch.allclose(plain, adapted)


def test_first_step_loss_is_the_token_mean_over_the_whole_step(base, tmp_path):
    """The step loss is summed CE over every trained token of the step / their count, not a mean
    of micro-batch means. At step 1 the adapter is still zero (B=0), so it equals the base's loss."""
    import torch

    rows = [{"input_ids": [5, 6, 7, 8, 9, 10, 11, 12]}, {"input_ids": [20, 21, 22], "loss_mask": [0, 0, 1]}]
    blocks = pack(rows, 8)
    assert [b.trained_tokens for b in blocks] == [7, 1]
    expected_sum, count = 0.0, 0
    with torch.no_grad():
        for block in blocks:
            labels = torch.tensor([block.labels])
            loss = base(input_ids=torch.tensor([block.input_ids]), labels=labels).loss  # HF: mean over its tokens
            n = int((labels[:, 1:] != IGNORE).sum())
            expected_sum += float(loss) * n
            count += n
    assert count == 8
    with torch.no_grad():
        per_block = [float(base(input_ids=torch.tensor([b.input_ids]), labels=torch.tensor([b.labels])).loss) for b in blocks]
    mean_of_means = sum(per_block) / 2
    plan = make_plan(steps=1, micro_batch=1, grad_accum=2)
    _out, result, reports = train(base, tmp_path, plan, blocks=blocks)
    assert reports[0].loss == pytest.approx(expected_sum / count, abs=1e-5)
    assert abs(mean_of_means - expected_sum / count) > 1e-3  # the two definitions really differ here
    assert reports[0].tokens == 8 + 3


def test_same_plan_gives_byte_identical_adapters(base, tmp_path):
    blocks = make_blocks()
    plan = make_plan(steps=3, dropout=0.1)  # dropout draws from the seeded RNG too
    first, _, _ = train(base, tmp_path, plan, blocks=blocks, name="a")
    second, _, _ = train(base, tmp_path, plan, blocks=blocks, name="b")
    for name in ("adapter_model.safetensors", "adapter_config.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes()
    third, _, _ = train(base, tmp_path, replace(plan, seed=4321), blocks=blocks, name="c")
    assert (third / "adapter_model.safetensors").read_bytes() != (first / "adapter_model.safetensors").read_bytes()


def test_loss_goes_down_on_repeated_data(base, tmp_path):
    blocks = make_blocks(n_rows=4, seed=3)
    plan = make_plan(steps=30, micro_batch=len(blocks), learning_rate=5e-3, scheduler="constant")
    _out, _result, reports = train(base, tmp_path, plan, blocks=blocks)
    losses = [r.loss for r in reports]
    assert len(losses) == 30
    # the whole step is one full batch of the same blocks: every step improves on the last
    assert all(later < earlier for earlier, later in zip(losses, losses[1:])), losses
    assert losses[-1] < losses[0] - 0.2, losses


def test_explicit_target_modules(base, tmp_path):
    plan = make_plan(target_modules=("q_proj", "v_proj"), steps=1)
    out, result, _ = train(base, tmp_path, plan)
    # 2 layers * (4*(16+16) + 4*(16+8))
    assert result["trainable_params"] == 2 * (128 + 96) == 448
    assert json.loads((out / "adapter_config.json").read_text())["target_modules"] == ["q_proj", "v_proj"]


def test_dora_trains_and_saves(base, tmp_path):
    from peft import PeftModel

    before = snapshot(base)
    out, result, reports = train(base, tmp_path, make_plan(kind="dora", steps=3))
    # LoRA's r*(in+out) plus one magnitude per output feature: 2 * (16+8+8+16+32+32+16)
    assert result["trainable_params"] == lora_count(4) + 2 * 128
    assert len(reports) == 3 and all(math.isfinite(r.loss) for r in reports)
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["use_dora"] is True
    assert_base_restored(base, before)
    loaded = PeftModel.from_pretrained(base, str(out))
    assert any("lora_magnitude_vector" in n for n, _ in loaded.named_parameters())


def test_bf16_autocast_trains(base, tmp_path):
    import torch
    from safetensors.torch import load_file

    before = snapshot(base)
    out, result, reports = train(base, tmp_path, make_plan(steps=3), device=CPU_BF16)
    assert len(reports) == 3 and all(math.isfinite(r.loss) for r in reports)
    weights = load_file(str(out / "adapter_model.safetensors"))
    assert weights and all(t.dtype == torch.float32 for t in weights.values())  # master weights stay float32
    assert_base_restored(base, before)


def test_cancellation_stops_training_and_unwraps_the_base(base, tmp_path):
    before = snapshot(base)
    calls = {"n": 0}

    def cancel_on_third():
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt

    reports: list[StepReport] = []
    out = tmp_path / "cancelled"
    with pytest.raises(KeyboardInterrupt):
        train_adapter(base, make_plan(steps=10), CPU, make_blocks(), PAD, out, base_key=BASE_KEY,
                      on_step=reports.append, check_cancelled=cancel_on_third)
    assert calls["n"] == 3 and len(reports) == 2
    assert not out.exists() or not any(out.iterdir())  # nothing saved
    assert_base_restored(base, before)
    # and the base can be trained again afterwards
    _o, result, _r = train(base, tmp_path, make_plan(steps=1))
    assert result["trainable_params"] == lora_count(4)


def test_base_is_back_in_eval_mode_after_training(base, tmp_path):
    assert base.training is False  # as loaded
    train(base, tmp_path, make_plan(steps=1))
    assert base.training is False


RERUN = """
import hashlib, sys, torch
torch.set_num_threads(1)
from pathlib import Path
from dlmbuild.train.base_model import _load
from dlmbuild.train.recipe import train_adapter
from tests.train.test_recipe import BASE_KEY, CPU, PAD, make_blocks, make_plan
out = Path(sys.argv[2])
train_adapter(_load(Path(sys.argv[1]), "cpu", False), make_plan(steps=2, dropout=0.1), CPU, make_blocks(), PAD, out, base_key=BASE_KEY)
print(hashlib.sha256((out / "adapter_model.safetensors").read_bytes() + (out / "adapter_config.json").read_bytes()).hexdigest())
"""


def test_adapter_bytes_do_not_depend_on_the_process(base, base_dir, tmp_path):
    """Byte-identical across processes with different hash randomization (peft keeps target
    modules in a set), and identical to training in this process."""
    import hashlib
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    digests = set()
    for hash_seed in ("12345",):  # this process's own (random) hash seed is the other one
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(root)}
        done = subprocess.run([sys.executable, "-c", RERUN, str(base_dir), str(tmp_path / f"p{hash_seed}")], env=env,
                              cwd=root, capture_output=True, text=True, check=True)
        digests.add(done.stdout.strip().splitlines()[-1])
    here, _, _ = train(base, tmp_path, make_plan(steps=2, dropout=0.1), name="here")
    digests.add(hashlib.sha256((here / "adapter_model.safetensors").read_bytes() + (here / "adapter_config.json").read_bytes()).hexdigest())
    assert len(digests) == 1


# ---------------------------------------------------------------- the anchor (KL to the base)


def test_anchor_kl_is_zero_for_a_fresh_adapter_and_limits_drift(tmp_path):
    """A fresh LoRA adapter (B = 0) is the identity, so KL to the base is exactly 0; training on
    a narrow text with the anchor ends closer to the base on the anchor text than without it."""
    import torch
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

    from dlmbuild.train.packing import pack
    from dlmbuild.train.recipe import anchor_kl, lora_config, train_adapter

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
                         num_key_value_heads=1, max_position_embeddings=64)
    folder = tmp_path / "base"
    LlamaForCausalLM(config).save_pretrained(folder)
    anchor = pack([{"input_ids": list(range(3, 30))}], 32)
    narrow = pack([{"input_ids": [5, 6, 7, 8] * 6} for _ in range(4)], 32)
    device = DevicePlan("cpu", None, 1, "bitwise")
    plan = make_plan(steps=25, learning_rate=5e-2, sequence_len=32, target_modules=("q_proj", "v_proj"), micro_batch=4)

    base = AutoModelForCausalLM.from_pretrained(folder)
    fresh = get_peft_model(base, lora_config(plan, ("q_proj", "v_proj")))
    with torch.no_grad():
        assert float(anchor_kl(fresh, anchor[0], 0, device)) == 0.0
    fresh.unload()

    drift = {}
    for weight in (0.0, 5.0):
        model = AutoModelForCausalLM.from_pretrained(folder)
        out = tmp_path / f"out-{weight}"
        train_adapter(model, plan, device, narrow, 0, out, base_key="b", anchor=anchor, anchor_weight=weight)
        from peft import PeftModel

        trained = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(folder), out)
        with torch.no_grad():
            drift[weight] = float(anchor_kl(trained, anchor[0], 0, device))
    assert drift[5.0] < drift[0.0] / 2


def test_float16_autocast_trains_through_a_gradient_scaler(base, tmp_path):
    """fp16 (GPUs without bf16) scales the loss before backward so tiny per-token gradients do
    not underflow; the loss still falls and the adapter is saved in float32."""
    from safetensors.torch import load_file

    blocks = make_blocks(n_rows=4, seed=3)
    plan = make_plan(steps=12, micro_batch=len(blocks), learning_rate=5e-3, scheduler="constant")
    out, _result, reports = train(base, tmp_path, plan, device=DevicePlan("cpu", "float16", 1, ""), blocks=blocks)
    assert reports[-1].loss < reports[0].loss
    import torch

    assert {t.dtype for t in load_file(str(out / "adapter_model.safetensors")).values()} == {torch.float32}


def test_gradient_checkpointing_gives_the_same_bytes_and_restores_the_base(base, tmp_path):
    blocks = make_blocks(n_rows=6, seed=4)
    plain, _, _ = train(base, tmp_path, make_plan(steps=3), blocks=blocks, name="plain")
    checked, _, _ = train(base, tmp_path, make_plan(steps=3, checkpointing=True), blocks=blocks, name="checked")
    assert (plain / "adapter_model.safetensors").read_bytes() == (checked / "adapter_model.safetensors").read_bytes()
    assert not any(getattr(m, "gradient_checkpointing", False) for m in base.modules())
