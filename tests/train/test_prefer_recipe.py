"""The preference loop on a tiny random Llama: DPO and ORPO raise the chosen-over-rejected margin
on held-in pairs, the reference (the SFT adapter) is frozen and untouched, the same seed gives
the same bytes, and the base comes back as it was."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest

from dlmbuild.train.preference_loss import answer_logps, pair_batch
from dlmbuild.train.preference_plan import PreferencePlan
from dlmbuild.train.prefer_recipe import reference_logps, train_preference
from tests.train.test_recipe import BASE_KEY, CPU, PAD, VOCAB, assert_base_restored, base, base_dir, snapshot, train  # noqa: F401

torch = pytest.importorskip("torch")


def make_pairs(n: int = 6, seed: int = 3) -> list[dict]:
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        prompt = [rng.randrange(3, VOCAB) for _ in range(4)]
        pairs.append({"prompt_ids": prompt, "chosen_ids": [7, 8, 9, 2], "rejected_ids": [20, 21, 22, 2]})
    return pairs


def make_pref_plan(method: str = "dpo", **changes) -> PreferencePlan:
    values = dict(adapter="default", method=method, beta=0.5, learning_rate=2e-2, epochs=10, steps=10, pairs=6,
                  micro_batch=2, grad_accum=1, warmup_steps=1, optimizer="adamw", seed=99)
    values.update(changes)
    return PreferencePlan(**values)


@pytest.fixture
def sft(base, tmp_path):  # noqa: F811
    out, _, _ = train(base, tmp_path, name="sft")
    return out


def files_digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def margins(base, folder: Path, pairs: list[dict]) -> float:  # noqa: F811
    from peft import PeftModel

    model = PeftModel.from_pretrained(base, str(folder))
    with torch.no_grad():
        summed, _ = answer_logps(model, pair_batch(pairs), PAD)
    model.unload()
    return float((summed[0::2] - summed[1::2]).mean())


@pytest.mark.parametrize("method", ["dpo", "orpo"])
def test_training_raises_the_margin_and_keeps_the_reference_frozen(base, sft, tmp_path, method):  # noqa: F811
    pairs = make_pairs()
    before_sft = files_digest(sft)
    base_before = snapshot(base)
    start = margins(base, sft, pairs)
    out = tmp_path / method
    stats = train_preference(base, make_pref_plan(method), CPU, pairs, sft, out, base_key=BASE_KEY, pad_id=PAD)
    assert stats["steps"] == 10 and (out / "adapter_model.safetensors").is_file()
    assert margins(base, out, pairs) > start + 0.5
    assert stats["final_margin"] > stats["first_margin"]
    assert files_digest(sft) == before_sft  # the SFT adapter (DPO's reference) is never written
    assert_base_restored(base, base_before)


def test_dpo_reference_is_the_sft_adapter_computed_once(base, sft):  # noqa: F811
    from peft import PeftModel

    pairs = make_pairs(4)
    model = PeftModel.from_pretrained(base, str(sft))
    reference = reference_logps(model, pairs, PAD, CPU, micro=3)
    with torch.no_grad():
        summed, _ = answer_logps(model, pair_batch(pairs), PAD)
    with torch.no_grad(), model.disable_adapter():
        bare, _ = answer_logps(model, pair_batch(pairs), PAD)
    model.unload()
    assert [v for pair in reference for v in pair] == pytest.approx(summed.tolist(), abs=1e-5)
    assert summed.tolist() != pytest.approx(bare.tolist(), abs=1e-4)  # the SFT adapter, not the bare base


def test_first_dpo_step_loss_is_ln2(base, sft, tmp_path):  # noqa: F811
    import math

    reports = []
    train_preference(base, make_pref_plan(steps=1), CPU, make_pairs(), sft, tmp_path / "one", base_key=BASE_KEY,
                     pad_id=PAD, on_step=reports.append)
    assert reports[0].loss == pytest.approx(math.log(2), abs=1e-5)


def test_same_seed_same_bytes(base, sft, tmp_path):  # noqa: F811
    pairs = make_pairs()
    for name in ("a", "b"):
        train_preference(base, make_pref_plan(steps=4), CPU, pairs, sft, tmp_path / name, base_key=BASE_KEY, pad_id=PAD)
    assert files_digest(tmp_path / "a") == files_digest(tmp_path / "b")
    train_preference(base, make_pref_plan(steps=4, seed=7), CPU, pairs, sft, tmp_path / "c", base_key=BASE_KEY, pad_id=PAD)
    assert files_digest(tmp_path / "c") != files_digest(tmp_path / "a")
