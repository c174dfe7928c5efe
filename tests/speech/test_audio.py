"""dlmbuild.speech.audio: headers, mono float32 samples at the model's rate, one-line refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

np = pytest.importorskip("numpy")
soundfile = pytest.importorskip("soundfile")

from dlmbuild.speech.audio import clip_info, load_clip  # noqa: E402
from tests.speech.clips import FIXTURES  # noqa: E402


def _tone(path: Path, rate: int, seconds: float, channels: int = 1, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    wave = (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
    data = np.stack([wave * (c + 1) / channels for c in range(channels)], axis=1) if channels > 1 else wave
    soundfile.write(str(path), data, rate, subtype="FLOAT")
    return data


def test_clip_info_reads_the_header(tmp_path):
    _tone(tmp_path / "a.wav", 22050, 1.5, channels=2)
    seconds, rate, channels = clip_info(tmp_path / "a.wav")
    assert (round(seconds, 6), rate, channels) == (1.5, 22050, 2)


def test_the_committed_fixtures_are_short_16k_mono():
    clips = sorted(FIXTURES.glob("*.wav"))
    assert len(clips) >= 6
    assert sum(p.stat().st_size for p in clips) < 1_000_000
    for clip in clips:
        seconds, rate, channels = clip_info(clip)
        assert rate == 16000 and channels == 1 and 0.5 < seconds < 5, clip.name


def test_load_at_the_native_rate_is_the_file(tmp_path):
    data = _tone(tmp_path / "a.wav", 16000, 0.5)
    got = load_clip(tmp_path / "a.wav", 16000)
    assert got.dtype == np.float32 and got.ndim == 1 and np.array_equal(got, data)


def test_stereo_is_averaged_and_resampled(tmp_path):
    _tone(tmp_path / "s.wav", 44100, 1.0, channels=2, hz=300.0)
    got = load_clip(tmp_path / "s.wav", 16000)
    assert got.dtype == np.float32 and got.shape == (16000,)
    # the mean of the two channels (0.25 and 0.5 amplitude) is a 0.375 tone at 300 Hz
    spectrum = np.abs(np.fft.rfft(got[2000:14000]))
    assert abs(np.argmax(spectrum) * 16000 / 12000 - 300) < 2
    assert abs(np.max(np.abs(got[2000:14000])) - 0.375) < 0.01
    assert np.array_equal(load_clip(tmp_path / "s.wav", 16000), got)  # deterministic


@pytest.mark.parametrize("call", [clip_info, lambda p: load_clip(p, 16000)])
def test_unreadable_and_missing_clips_are_one_line(tmp_path, call):
    bad = tmp_path / "notes.wav"
    bad.write_bytes(b"this is not a wave file at all" * 10)
    with pytest.raises(ValueError) as err:
        call(bad)
    assert str(err.value).startswith(f"{bad}: soundfile cannot open it as audio (") and "\n" not in str(err.value)
    with pytest.raises(ValueError, match="no such clip"):
        call(tmp_path / "absent.wav")
    with pytest.raises(ValueError, match="not a file"):
        call(tmp_path)


def test_an_empty_clip_is_refused(tmp_path):
    soundfile.write(str(tmp_path / "empty.wav"), np.zeros(0, np.float32), 16000)
    with pytest.raises(ValueError, match="holds no samples"):
        load_clip(tmp_path / "empty.wav", 16000)
