"""Fixtures for the audio-language tests: the tiny Qwen2-Audio-shaped base, two synthetic clips
and one trained adapter, each built once per session (see tiny_audio_lm.py for the base)."""

from __future__ import annotations

from pathlib import Path

import pytest

QUESTION = "What do you hear?"
# Two clips, one question: only the sound can tell the adapter which answer to give. The high
# one is written at 22.05 kHz, so loading it resamples to the extractor's 16 kHz.
CLIPS = {
    "low-hum": {"hertz": 180.0, "rate": 16000, "answer": "A low hum."},
    "high-beep": {"hertz": 2400.0, "rate": 22050, "answer": "A high beep."},
}
TRAIN_OPTIONS = {"r": 8, "alpha": 16, "steps": 12, "learning_rate": 2e-3, "seed": 0, "threads": 2}


def write_tone(path: Path, hertz: float, rate: int, seconds: float = 1.5) -> Path:
    """A sine tone with a soft fade in and out, as 16-bit PCM WAV."""
    import numpy as np
    import soundfile

    t = np.arange(int(rate * seconds)) / rate
    envelope = np.minimum(1.0, np.minimum(t, seconds - t) / 0.05)
    soundfile.write(str(path), (0.4 * envelope * np.sin(2 * np.pi * hertz * t)).astype(np.float32), rate, subtype="PCM_16")
    return path


@pytest.fixture(scope="session")
def tiny_audio_lm(embedded_base, tmp_path_factory) -> Path:
    from tests.audiolm.tiny_audio_lm import build_tiny_audio_lm

    return build_tiny_audio_lm(tmp_path_factory.mktemp("tiny-audio-lm") / "qwen2-audio-tiny", Path(embedded_base[0].path))


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    return {name: write_tone(folder / f"{name}.wav", spec["hertz"], spec["rate"]) for name, spec in CLIPS.items()}


def examples_for(clips: dict[str, Path]) -> list[dict]:
    return [{"clips": [str(clips[name])], "prompt": QUESTION, "answer": spec["answer"]} for name, spec in CLIPS.items()]


@pytest.fixture(scope="session")
def trained_audio_adapter(tiny_audio_lm, clips, tmp_path_factory) -> tuple[Path, dict]:
    """The adapter trained on both clips with ``TRAIN_OPTIONS``, and what training returned."""
    from dlmbuild.audiolm.train import train_audio_lm_lora

    out = tmp_path_factory.mktemp("audio-lm-adapter") / "adapter"
    report = train_audio_lm_lora(tiny_audio_lm, examples_for(clips), out, **TRAIN_OPTIONS)
    return out, report
