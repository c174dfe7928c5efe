"""LoRA on the tiny audio-language base: it learns to answer the same question differently per
clip, the audio side stays frozen, and the same inputs and seed give the same adapter bytes."""

from __future__ import annotations

import json

import pytest

from dlmbuild.audiolm.generate import generate
from tests.audiolm.conftest import CLIPS, QUESTION, TRAIN_OPTIONS, examples_for


def test_adapter_answers_per_clip(tiny_audio_lm, clips, trained_audio_adapter):
    adapter, report = trained_audio_adapter
    assert report["losses"][-1] < report["losses"][0] / 10, report["losses"]
    for name, spec in CLIPS.items():
        answer = generate(tiny_audio_lm, [clips[name]], QUESTION, adapter_dir=adapter, max_new_tokens=12)
        assert answer == spec["answer"], (name, answer)
        assert generate(tiny_audio_lm, [clips[name]], QUESTION, max_new_tokens=12) != spec["answer"]


def test_only_the_text_model_is_adapted(trained_audio_adapter):
    from safetensors import safe_open

    adapter, report = trained_audio_adapter
    with safe_open(str(adapter / "adapter_model.safetensors"), framework="pt") as handle:
        names = list(handle.keys())
        saved = sum(handle.get_tensor(n).numel() for n in names)
    assert names and all(".language_model.layers." in n for n in names)
    assert not any("audio_tower" in n or "projector" in n for n in names)
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "qwen2-audio-tiny"  # the base's name, never a local path
    assert report["trainable_parameters"] == saved


def test_same_inputs_and_seed_give_identical_bytes(tiny_audio_lm, clips, tmp_path):
    from dlmbuild.audiolm.train import train_audio_lm_lora

    options = {**TRAIN_OPTIONS, "steps": 2}
    files = []
    for run in ("a", "b"):
        train_audio_lm_lora(tiny_audio_lm, examples_for(clips), tmp_path / run, **options)
        files.append({p.name: p.read_bytes() for p in sorted((tmp_path / run).iterdir())})
    assert files[0] == files[1]
    train_audio_lm_lora(tiny_audio_lm, examples_for(clips), tmp_path / "c", **{**options, "seed": 1})
    assert (tmp_path / "c" / "adapter_model.safetensors").read_bytes() != files[0]["adapter_model.safetensors"]


def test_a_clip_it_cannot_read_stops_before_training(tiny_audio_lm, tmp_path):
    from dlmbuild.audiolm.train import train_audio_lm_lora

    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF not really")
    with pytest.raises(ValueError, match=r"broken\.wav: soundfile cannot open it"):
        train_audio_lm_lora(tiny_audio_lm, [{"clips": [str(bad)], "prompt": "q", "answer": "a"}], tmp_path / "out")
    assert not (tmp_path / "out").exists()
