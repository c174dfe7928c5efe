"""Reading an image for training or prompting: one decoded RGB picture, or one line saying why not.

Pillow guards against decompression bombs with a warning above ``MAX_IMAGE_PIXELS`` and an error
above twice that. dlm turns the warning into an error at the caller's limit: a 40-megapixel
photo in a document is almost always a mistake that would silently cost minutes per step (the
processor resizes it anyway), and a crafted file must not exhaust memory. The limit is checked
from the header before any pixel is decoded.
"""

from __future__ import annotations

import warnings
from pathlib import Path

DEFAULT_MAX_PIXELS = 16_000_000  # 4000 x 4000: far above what any VL processor keeps


def load_image(path: Path | str, *, max_pixels: int = DEFAULT_MAX_PIXELS):
    """The image at ``path`` as a fully decoded RGB ``PIL.Image``.

    Raises ``ValueError`` with one line naming the file and the reason: it does not exist, Pillow
    cannot read it, or it has more than ``max_pixels`` pixels.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: image not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                # the caller's limit from the header, before decoding; Pillow's own global limit
                # (never changed here: other threads read it) still guards the open
                width, height = image.size
                if width * height > max_pixels:
                    raise Image.DecompressionBombError(f"{width}x{height}")
                image.load()
                return image.convert("RGB")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValueError(f"{path}: image is over the {max_pixels:,}-pixel limit") from None
    except UnidentifiedImageError:
        raise ValueError(f"{path}: Pillow cannot open it (not an image format it reads)") from None
    except (OSError, SyntaxError) as exc:  # truncated or corrupt data; SyntaxError from some decoders
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ValueError(f"{path}: Pillow cannot read it ({reason})") from None
