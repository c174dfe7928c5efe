"""LoRA training on an audio-language base: the text model learns, the audio encoder and its
projector stay as they are (the loop shared with vision, ``dlmbuild.multimodal.lora_loop``)."""

from __future__ import annotations

import time
from pathlib import Path

from dlmbuild.audiolm.collate import encode_example, to_inputs
from dlmbuild.multimodal.lora_loop import train_encoded_lora
from dlmbuild.multimodal.model import cpu_threads, load_model, load_processor


def train_audio_lm_lora(model_dir: Path, examples: list[dict], out_dir: Path, *, r: int = 8, alpha: int = 16,
                        steps: int = 30, learning_rate: float = 1e-3, seed: int = 0, threads: int = 1,
                        batch_size: int = 2, base_key: str | None = None) -> dict:
    """Train a LoRA adapter on ``examples`` (``{"clips", "prompt", "answer"}``) and save it as a
    PEFT folder in ``out_dir``. Returns ``steps``, ``losses``, ``answer_tokens``,
    ``trainable_parameters`` and ``seconds``; ``base_key`` names the base in
    ``adapter_config.json`` (default: the folder's name), never its local path."""
    from dlmbuild.train.recipe import seed_everything

    if not examples:
        raise ValueError("no examples to train on")
    started = time.perf_counter()
    with cpu_threads(threads, deterministic=True):
        seed_everything(seed)
        processor = load_processor(model_dir)
        encoded = [encode_example(processor, e) for e in examples]  # a bad or long clip fails here, before training
        model = load_model(model_dir)
        summary = train_encoded_lora(model, encoded, to_inputs, out_dir, r=r, alpha=alpha, steps=steps,
                                     learning_rate=learning_rate, seed=seed, batch_size=batch_size,
                                     base_name=base_key or Path(model_dir).name)
    return {**summary, "seconds": time.perf_counter() - started}
