"""Checking the file a media section points at, from its header only (cheap enough to run on
every parse, as the file can change without an edit to the document).

- an image must open with Pillow and stay under Pillow's decompression-bomb limit
  (``Image.MAX_IMAGE_PIXELS``), which is turned from a warning into an error: a 30,000 x 30,000
  PNG is a few kilobytes on disk and gigabytes in memory;
- a clip must open with soundfile (WAV, FLAC, OGG/Vorbis, MP3 with libsndfile >= 1.1).

Each failure is one line naming the file and which library refused it.
"""

from __future__ import annotations

import warnings
from pathlib import Path

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff"})
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".oga", ".mp3", ".aiff", ".aif"})


def media_kind(path: str | Path) -> str | None:
    """``image`` or ``audio`` by file name, else None (how source directives tell media apart)."""
    suffix = Path(path).suffix.lower()
    return "image" if suffix in IMAGE_SUFFIXES else "audio" if suffix in AUDIO_SUFFIXES else None


def image_problem(path: Path) -> str | None:
    """Why Pillow will not take this image, or None."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                limit = Image.MAX_IMAGE_PIXELS
                if limit and width * height > limit:
                    return f"is {width}x{height} pixels, over the limit of {limit:,} (Pillow's decompression-bomb guard)"
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        return f"is over the pixel limit (Pillow's decompression-bomb guard: {exc})"
    except OSError as exc:  # UnidentifiedImageError is an OSError
        return f"cannot be opened by Pillow ({exc})".replace(f"{path}", path.name)
    return None


def clip_problem(path: Path) -> str | None:
    """Why soundfile will not read this clip, or None."""
    import soundfile

    try:
        info = soundfile.info(str(path))
    except (RuntimeError, soundfile.LibsndfileError, OSError) as exc:
        text = str(exc).replace(str(path), path.name).replace(f"'{path.name}'", path.name)
        return f"cannot be opened by soundfile ({text})"
    if info.frames <= 0 or info.samplerate <= 0:
        return "holds no audio frames"
    return None


def clip_seconds(path: Path) -> float:
    import soundfile

    info = soundfile.info(str(path))
    return info.frames / info.samplerate
