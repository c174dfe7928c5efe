"""LoRA on the real Whisper base: byte-identical adapters from the same inputs and seed, and
domain adaptation (the invented name spelled as the transcripts spell it, other speech kept)."""

from __future__ import annotations

import json

import pytest

from dlmbuild.speech.train import TARGET_MODULES, train_speech_lora
from tests.speech.clips import NAME, clips

ADAPTED = {"steps": 20, "learning_rate": 1e-3, "seed": 0, "threads": 1}  # the defaults, spelled out


def test_same_inputs_and_seed_give_the_same_adapter_bytes(tmp_path, whisper_dir):
    examples = clips("train")[:2]
    runs = {}
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        stats = train_speech_lora(whisper_dir, examples, tmp_path / name, steps=3, learning_rate=1e-3, seed=seed, threads=1)
        runs[name] = (tmp_path / name / "adapter_model.safetensors").read_bytes()
    assert runs["a"] == runs["b"]
    assert runs["a"] != runs["c"]
    assert (tmp_path / "a" / "adapter_config.json").read_bytes() == (tmp_path / "b" / "adapter_config.json").read_bytes()
    config = json.loads((tmp_path / "a" / "adapter_config.json").read_text())
    assert (config["r"], config["lora_alpha"], config["target_modules"], config["base_model_name_or_path"]) == (
        8, 16, TARGET_MODULES, "whisper-tiny.en")
    assert not (tmp_path / "a" / "README.md").exists()
    assert stats["steps"] == 3 and stats["examples"] == 2 and stats["trainable_params"] > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "c"]  # no temporaries left


def test_bad_examples_are_one_line_before_training(tmp_path, whisper_dir):
    clip, _ = clips("train")[0]
    with pytest.raises(ValueError, match="no such clip"):
        train_speech_lora(whisper_dir, [(tmp_path / "absent.wav", "words")], tmp_path / "out", steps=1)
    with pytest.raises(ValueError, match="the transcript is empty"):
        train_speech_lora(whisper_dir, [(clip, "  ")], tmp_path / "out", steps=1)
    with pytest.raises(ValueError, match="no \\(clip, transcript\\) examples"):
        train_speech_lora(whisper_dir, [], tmp_path / "out", steps=1)
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_training_teaches_the_name_and_keeps_other_speech(tmp_path, whisper_dir, transcriber):
    """Before: the name is never spelled right. After training on four clips: it is, in those
    and in two sentences never trained on; every clip without the name that the base got right
    is transcribed exactly as before, and the no-name set's WER does not rise (the base's wrong
    guesses on hard clips may move: its output there is uncertain to begin with)."""
    from dlmbuild.speech.transcribe import Transcriber
    from dlmbuild.speech.wer import wer

    named = clips("train") + clips("heldout")
    before = {clip.name: transcriber.transcribe(clip) for clip, _ in clips()}
    assert not any(NAME.lower() in before[clip.name].lower() for clip, _ in named), before

    stats = train_speech_lora(whisper_dir, clips("train"), tmp_path / "adapter", **ADAPTED)
    assert stats["final_loss"] < stats["first_loss"] / 10, stats
    adapted = Transcriber(whisper_dir, adapter_dir=tmp_path / "adapter")
    after = {clip.name: adapted.transcribe(clip) for clip, _ in clips()}

    assert all(NAME in after[clip.name] for clip, _ in named), {clip.name: after[clip.name] for clip, _ in named}
    right_before = [clip.name for clip, text in clips("plain") if before[clip.name] == text]
    assert len(right_before) >= 3, before
    assert {name: after[name] for name in right_before} == {name: before[name] for name in right_before}
    plain_wer = [wer([(text, got[clip.name]) for clip, text in clips("plain")]) for got in (before, after)]
    assert plain_wer[1] <= plain_wer[0], plain_wer
    assert wer([(t, after[c.name]) for c, t in clips("heldout")]) < wer([(t, before[c.name]) for c, t in clips("heldout")]) / 2


def test_a_folder_that_is_not_whisper_is_one_line(tmp_path):
    from dlmbuild.speech.transcribe import transcribe
    from tests.bases.test_resolve import make_tiny_base

    with pytest.raises(ValueError, match="not a speech model folder"):
        transcribe(tmp_path / "nothing", tmp_path / "a.wav")
    make_tiny_base(tmp_path / "llama")
    with pytest.raises(ValueError, match="a LlamaForCausalLM, not a WhisperForConditionalGeneration speech model"):
        train_speech_lora(tmp_path / "llama", clips("train")[:1], tmp_path / "out")


def test_an_existing_output_folder_is_written_into(tmp_path, whisper_dir):
    """A build action's staging folder exists already: the adapter goes into it, other files kept."""
    out = tmp_path / "staging"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    train_speech_lora(whisper_dir, clips("train")[:1], out, steps=1, threads=1)
    assert sorted(p.name for p in out.iterdir()) == ["adapter_config.json", "adapter_model.safetensors", "keep.txt"]
