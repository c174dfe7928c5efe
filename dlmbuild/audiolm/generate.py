"""Answering a question about clips with an audio-language base, optionally through an adapter.

The prompt is built exactly as training builds an example's user turn (``collate.prompt_text``),
so what an adapter learned is what it is asked; generation is ``dlmbuild.multimodal.answer``'s.
"""

from __future__ import annotations

from pathlib import Path

from dlmbuild.audiolm.collate import load_clips, processor_inputs, prompt_text
from dlmbuild.multimodal.answer import answer
from dlmbuild.multimodal.model import cpu_threads, load_processor


def generate(model_dir: Path, clips: list[Path], question: str, *, adapter_dir: Path | None = None,
             max_new_tokens: int = 32, temperature: float = 0.0, seed: int = 0, threads: int = 0) -> str:
    """The model's answer to ``question`` about ``clips`` (special tokens removed, stripped)."""
    with cpu_threads(threads):
        processor = load_processor(model_dir)
        samples = load_clips(processor, clips)
        inputs = processor_inputs(processor, prompt_text(processor, len(samples), question), samples)
        return answer(model_dir, processor, inputs, adapter_dir=adapter_dir, max_new_tokens=max_new_tokens,
                      temperature=temperature, seed=seed)
