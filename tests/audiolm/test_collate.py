"""The audio collator: the base's chat template, audio tokens per clip length, loss on the
answer only, and clips the base cannot hear whole refused."""

from __future__ import annotations

import pytest

from dlmbuild.audiolm.collate import TRANSCRIBE_PROMPT, encode_example, processor_inputs, prompt_text, to_inputs
from dlmbuild.multimodal.labels import IGNORE
from dlmbuild.multimodal.model import load_processor
from tests.audiolm.conftest import QUESTION, write_tone


@pytest.fixture(scope="module")
def processor(tiny_audio_lm):
    return load_processor(tiny_audio_lm)


def labelled_text(processor, encoded) -> str:
    return processor.tokenizer.decode([t for t in encoded.labels if t != IGNORE])


def audio_tokens(processor, ids) -> int:
    return ids.count(processor.tokenizer.convert_tokens_to_ids("<|AUDIO|>"))


def test_loss_only_on_the_answer_and_its_end_of_turn(processor, clips):
    encoded = encode_example(processor, {"clips": [str(clips["low-hum"])], "prompt": QUESTION, "answer": "A low hum."})
    assert labelled_text(processor, encoded) == "A low hum.<|im_end|>"
    # 1.5 s at 100 feature frames a second: 150 frames, halved by the encoder's stride (75) and again by its pooling (37).
    assert audio_tokens(processor, encoded.input_ids) == 37
    head = processor_inputs(processor, prompt_text(processor, 1, QUESTION), [__import__("numpy").zeros(24000, "float32")])
    first_label = next(i for i, t in enumerate(encoded.labels) if t != IGNORE)
    assert first_label == len(head["input_ids"][0])
    assert tuple(encoded.features["input_features"].shape) == (1, 128, 3000)
    assert int(encoded.features["feature_attention_mask"].sum()) == 150
    assert "num_audio_tokens" not in encoded.features
    inputs = to_inputs(encoded)
    assert inputs["input_ids"].shape == inputs["labels"].shape == inputs["attention_mask"].shape


def test_a_resampled_clip_keeps_its_length(processor, clips):
    """The 22.05 kHz clip is resampled to 16 kHz: still 1.5 s, so as many audio tokens."""
    encoded = encode_example(processor, {"clips": [str(clips["high-beep"])], "prompt": QUESTION, "answer": "x"})
    assert audio_tokens(processor, encoded.input_ids) == 37


def test_transcript_answers_the_transcribe_prompt(processor, clips):
    encoded = encode_example(processor, {"clips": [str(clips["low-hum"])], "prompt": None, "answer": "Hmmm."})
    text = processor.tokenizer.decode(encoded.input_ids)
    assert f"{TRANSCRIBE_PROMPT}<|im_end|>\n<|im_start|>assistant\nHmmm.<|im_end|>" in text


def test_text_only_example_needs_a_prompt(processor):
    with pytest.raises(ValueError, match="needs a prompt"):
        encode_example(processor, {"clips": [], "prompt": None, "answer": "x"})
    encoded = encode_example(processor, {"clips": [], "prompt": "Say hi.", "answer": "Hi."})
    assert encoded.features == {} and labelled_text(processor, encoded) == "Hi.<|im_end|>"


def test_a_clip_longer_than_the_window_is_refused(processor, tmp_path):
    long = write_tone(tmp_path / "long.wav", 300.0, 16000, seconds=31.0)
    with pytest.raises(ValueError, match=r"long\.wav: the clip is 31\.0 s long; the base hears at most 30 s"):
        encode_example(processor, {"clips": [str(long)], "prompt": "q", "answer": "a"})
