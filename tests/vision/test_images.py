"""load_image: the decoded RGB picture, or one ValueError line naming the file and the reason."""

from __future__ import annotations

import pytest
from PIL import Image

from dlmbuild.vision.images import load_image


def test_loads_any_mode_as_rgb(tmp_path):
    path = tmp_path / "grey.png"
    Image.new("LA", (10, 6), (128, 255)).save(path)
    image = load_image(path, max_pixels=1000)
    assert image.mode == "RGB" and image.size == (10, 6)


def test_missing_file(tmp_path):
    with pytest.raises(ValueError, match=r"nope\.png: image not found$"):
        load_image(tmp_path / "nope.png")


def test_not_an_image(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("just text")
    with pytest.raises(ValueError) as caught:
        load_image(path)
    message = str(caught.value)
    assert message.startswith(str(path)) and "Pillow cannot open it" in message and "\n" not in message


def test_truncated_image(tmp_path):
    path = tmp_path / "cut.png"
    Image.new("RGB", (64, 64), (1, 2, 3)).save(path)
    path.write_bytes(path.read_bytes()[:60])
    with pytest.raises(ValueError) as caught:
        load_image(path)
    assert str(caught.value).startswith(f"{path}: Pillow cannot") and "\n" not in str(caught.value)


@pytest.mark.parametrize("size", [(80, 80), (200, 200)])  # Pillow's warning band and its error band
def test_over_the_pixel_limit(tmp_path, size):
    path = tmp_path / "big.png"
    Image.new("RGB", size).save(path)
    before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(ValueError, match=r"big\.png: image is over the 5,000-pixel limit$"):
        load_image(path, max_pixels=5000)
    assert Image.MAX_IMAGE_PIXELS == before  # the global guard is never touched (other threads read it)
    assert load_image(path, max_pixels=size[0] * size[1]).size == size
