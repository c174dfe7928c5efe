"""Answering a question about images with a VL base, optionally through a trained adapter.

The prompt is built exactly as training builds an example's prompt (``collate.prompt_inputs``),
so what an adapter learned is what it is asked; generation is ``dlmbuild.multimodal.answer``'s.
"""

from __future__ import annotations

from pathlib import Path

from dlmbuild.multimodal.answer import answer
from dlmbuild.multimodal.model import cpu_threads, load_processor
from dlmbuild.vision.collate import prompt_inputs
from dlmbuild.vision.images import DEFAULT_MAX_PIXELS, load_image


def generate(model_dir: Path, images: list[Path], question: str, *, adapter_dir: Path | None = None,
             max_new_tokens: int = 32, temperature: float = 0.0, seed: int = 0, threads: int = 0,
             max_pixels: int = DEFAULT_MAX_PIXELS) -> str:
    """The model's answer to ``question`` about ``images`` (special tokens removed, stripped)."""
    pictures = [load_image(p, max_pixels=max_pixels) for p in images]
    with cpu_threads(threads):
        processor = load_processor(model_dir)
        inputs = prompt_inputs(processor, question, pictures)
        return answer(model_dir, processor, inputs, adapter_dir=adapter_dir, max_new_tokens=max_new_tokens,
                      temperature=temperature, seed=seed)
