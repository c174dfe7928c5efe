"""Reading clips: the header for checks, the samples as float32 mono at the model's rate.

soundfile (libsndfile) reads WAV, FLAC, OGG/Vorbis and, with libsndfile >= 1.1, MP3; it is
already in dlm's model stack. A clip at another rate is resampled with python-soxr (PyPI
``soxr``), chosen because:

- it wraps libsoxr, the SoX resampler: band-limited, with an anti-aliasing filter that leaves
  the speech band intact at its default "HQ" setting; librosa made it its default resampler
  (``soxr_hq``) in 0.10, and audio and ASR pipelines widely use it;
- it is maintained (regular releases, wheels for Linux/macOS/Windows on x86-64 and arm64, current
  Python versions) and small (one ~1 MB wheel, only numpy), where the alternatives pull far more:
  scipy's ``resample_poly`` (a ~35 MB package for one function), librosa (numba, scipy,
  scikit-learn), torchaudio (a build tied to one exact torch version);
- its output depends only on the input and the two rates (no randomness), so a clip gives the
  same samples, hence the same features and adapter bytes, on every run (tests/speech checks it).

Channels are averaged into one, as Whisper's own loader (ffmpeg ``-ac 1``) does.
"""

from __future__ import annotations

from pathlib import Path

RESAMPLE_QUALITY = "HQ"


def _open_problem(path: Path, exc: Exception) -> ValueError:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ValueError(f"{path}: soundfile cannot open it as audio ({reason})")


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise ValueError(f"{path}: no such clip")
    if not path.is_file():
        raise ValueError(f"{path}: not a file, so soundfile cannot open it as audio")


def clip_info(path: str | Path) -> tuple[float, int, int]:
    """``(seconds, sample_rate, channels)`` from the file's header, without reading samples.

    Raises ``ValueError`` with one line naming the file when it is missing or soundfile cannot
    open it.
    """
    import soundfile

    path = Path(path)
    _check_exists(path)
    try:
        info = soundfile.info(str(path))
    except Exception as exc:  # soundfile raises LibsndfileError, RuntimeError or TypeError by format
        raise _open_problem(path, exc) from None
    if info.samplerate <= 0:
        raise ValueError(f"{path}: soundfile reads a sample rate of {info.samplerate}, so it is not a usable clip")
    return info.frames / info.samplerate, int(info.samplerate), int(info.channels)


def load_clip(path: str | Path, sampling_rate: int):
    """The clip's samples as a 1-D float32 numpy array in [-1, 1], mono, at ``sampling_rate``.

    Raises ``ValueError`` with one line for a missing, unreadable or empty clip.
    """
    import numpy as np
    import soundfile

    path = Path(path)
    _check_exists(path)
    if sampling_rate <= 0:
        raise ValueError(f"cannot load {path} at a sampling rate of {sampling_rate}")
    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:
        raise _open_problem(path, exc) from None
    if data.shape[0] == 0:
        raise ValueError(f"{path}: the clip holds no samples")
    mono = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
    if rate != sampling_rate:
        import soxr

        mono = soxr.resample(mono, rate, sampling_rate, quality=RESAMPLE_QUALITY)
    return np.ascontiguousarray(mono, dtype=np.float32)
