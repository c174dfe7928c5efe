"""LoRA on the tiny VL base: it learns to answer the same question differently per image, the
vision side stays frozen, and the same inputs and seed give the same adapter bytes."""

from __future__ import annotations

import json

from dlmbuild.vision.generate import generate
from tests.vision.conftest import PICTURES, QUESTION, TRAIN_OPTIONS, examples_for


def test_adapter_answers_per_image(tiny_vlm, pictures, trained_adapter):
    adapter, report = trained_adapter
    assert report["losses"][-1] < report["losses"][0] / 10, report["losses"]
    for name, spec in PICTURES.items():
        answer = generate(tiny_vlm, [pictures[name]], QUESTION, adapter_dir=adapter, max_new_tokens=12)
        assert answer == spec["answer"], (name, answer)
        assert generate(tiny_vlm, [pictures[name]], QUESTION, max_new_tokens=12) != spec["answer"]


def test_only_the_text_model_is_adapted(trained_adapter):
    from safetensors import safe_open

    adapter, report = trained_adapter
    with safe_open(str(adapter / "adapter_model.safetensors"), framework="pt") as handle:
        names = list(handle.keys())
        saved = sum(handle.get_tensor(n).numel() for n in names)
    assert names and all(".text_model.layers." in n for n in names)
    assert not any("vision" in n or "connector" in n for n in names)
    assert {n.split(".")[-3] for n in names} == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "smolvlm-tiny"  # the base's name, never a local path
    assert report["trainable_parameters"] == saved


def test_same_inputs_and_seed_give_identical_bytes(tiny_vlm, pictures, tmp_path):
    from dlmbuild.vision.train import train_vision_lora

    options = {**TRAIN_OPTIONS, "steps": 3}
    files = []
    for run in ("a", "b"):
        train_vision_lora(tiny_vlm, examples_for(pictures), tmp_path / run, **options)
        files.append({p.name: p.read_bytes() for p in sorted((tmp_path / run).iterdir())})
    assert files[0] == files[1]
    other = train_vision_lora(tiny_vlm, examples_for(pictures), tmp_path / "c", **{**options, "seed": 1})
    assert other["steps"] == 3
    assert (tmp_path / "c" / "adapter_model.safetensors").read_bytes() != files[0]["adapter_model.safetensors"]


def test_sampling_is_seeded(tiny_vlm, pictures, trained_adapter):
    kwargs = {"adapter_dir": trained_adapter[0], "max_new_tokens": 8, "temperature": 1.5}
    first = generate(tiny_vlm, [pictures["red-circle"]], "Tell me a story.", seed=3, **kwargs)
    assert first == generate(tiny_vlm, [pictures["red-circle"]], "Tell me a story.", seed=3, **kwargs)
