"""LoRA training on a vision-language base: the text model learns, the vision side stays as it is
(the shared loop in ``dlmbuild.multimodal.lora_loop``), so the adapter is an ordinary text-model
LoRA that llama.cpp can merge, and the projector GGUF of the base serves every adapter.
"""

from __future__ import annotations

import time
from pathlib import Path

from dlmbuild.multimodal.lora_loop import train_encoded_lora
from dlmbuild.multimodal.model import cpu_threads, load_model, load_processor
from dlmbuild.vision.collate import VisionCollator, collate
from dlmbuild.vision.images import DEFAULT_MAX_PIXELS


def train_vision_lora(model_dir: Path, examples: list[dict], out_dir: Path, *, r: int = 8, alpha: int = 16,
                      steps: int = 30, learning_rate: float = 1e-3, seed: int = 0, threads: int = 1,
                      batch_size: int = 2, max_pixels: int = DEFAULT_MAX_PIXELS, base_key: str | None = None) -> dict:
    """Train a LoRA adapter on ``examples`` and save it as a PEFT folder in ``out_dir``.

    Returns ``steps``, ``losses`` (one per step), ``answer_tokens``, ``trainable_parameters``
    and ``seconds``. ``base_key`` names the base in ``adapter_config.json`` (default: the
    folder's name), never its local path.
    """
    from dlmbuild.train.recipe import seed_everything

    if not examples:
        raise ValueError("no examples to train on")
    started = time.perf_counter()
    with cpu_threads(threads, deterministic=True):
        seed_everything(seed)
        processor = load_processor(model_dir)
        collator = VisionCollator(processor, max_pixels=max_pixels)
        encoded = [collator.encode(e) for e in examples]  # a bad image fails here, before any training
        model = load_model(model_dir)
        summary = train_encoded_lora(model, encoded, lambda e: collate([e], collator.pad_id), out_dir, r=r, alpha=alpha,
                                     steps=steps, learning_rate=learning_rate, seed=seed, batch_size=batch_size,
                                     base_name=base_key or Path(model_dir).name)
    return {**summary, "seconds": time.perf_counter() - started}
