"""Fixtures for the vision tests: the tiny SmolVLM-shaped base, synthetic pictures, one trained
adapter, each built once per session (see tiny_vlm.py for the base)."""

from __future__ import annotations

from pathlib import Path

import pytest

QUESTION = "What shape is in the picture?"
# Two pictures, one question: only the image can tell the adapter which answer to give.
PICTURES = {
    "red-circle": {"background": (255, 255, 255), "shape": "ellipse", "fill": (220, 20, 20), "answer": "A red circle."},
    "blue-square": {"background": (250, 230, 60), "shape": "rectangle", "fill": (20, 40, 220), "answer": "A blue square."},
}
TRAIN_OPTIONS = {"r": 8, "alpha": 16, "steps": 12, "learning_rate": 2e-3, "seed": 0, "threads": 2}


def draw_picture(path: Path, background, shape: str, fill, size: int = 128) -> Path:
    """A coloured shape on a plain background, 128x128 (the tiny processor's longest edge, so it
    is split into 2x2 tiles without resizing), saved as PNG (lossless: every reader sees the same
    pixels)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(image)
    getattr(draw, shape)((size // 5, size // 5, size - size // 5, size - size // 5), fill=fill)
    image.save(path, format="PNG")
    return path


@pytest.fixture(scope="session")
def mtmd(toolchain):
    """llama.cpp's multimodal library, which the pinned toolchain builds (LLAVA_BUILD=ON): a
    toolchain that matches the pin but cannot load it fails, never skips. Session-scoped and
    listed first by the tests that use it, so the failure costs no model build."""
    from dlmbuild.vision.smoke import mtmd_problem

    problem = mtmd_problem()
    if problem:
        pytest.fail(problem)


@pytest.fixture(scope="session")
def tiny_vlm(embedded_base, tmp_path_factory) -> Path:
    from tests.vision.tiny_vlm import build_tiny_vlm

    return build_tiny_vlm(tmp_path_factory.mktemp("tiny-vlm") / "smolvlm-tiny", Path(embedded_base[0].path))


@pytest.fixture(scope="session")
def tiny_paligemma(embedded_base, tmp_path_factory) -> Path:
    from tests.vision.tiny_paligemma import build_tiny_paligemma

    return build_tiny_paligemma(tmp_path_factory.mktemp("tiny-paligemma") / "paligemma-tiny", Path(embedded_base[0].path))


@pytest.fixture(scope="session")
def pictures(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("pictures")
    return {name: draw_picture(folder / f"{name}.png", spec["background"], spec["shape"], spec["fill"])
            for name, spec in PICTURES.items()}


def examples_for(pictures: dict[str, Path]) -> list[dict]:
    return [{"images": [str(pictures[name])], "prompt": QUESTION, "answer": spec["answer"]} for name, spec in PICTURES.items()]


@pytest.fixture(scope="session")
def trained_adapter(tiny_vlm, pictures, tmp_path_factory) -> tuple[Path, dict]:
    """The adapter trained on both pictures with ``TRAIN_OPTIONS``, and what training returned."""
    from dlmbuild.vision.train import train_vision_lora

    out = tmp_path_factory.mktemp("vision-adapter") / "adapter"
    report = train_vision_lora(tiny_vlm, examples_for(pictures), out, **TRAIN_OPTIONS)
    return out, report
