"""Answering a question about images with a VL base, optionally through a trained adapter.

The prompt is built exactly as training builds an example's user turn (``collate.prompt_text``),
so what an adapter learned is what it is asked. Generation stops at the end-of-turn tokens the
collator trains (the tokenizer's eos, ``<end_of_utterance>`` where the vocabulary has it).
``temperature=0`` is greedy and deterministic; above 0 it samples from a seeded generator.
"""

from __future__ import annotations

from pathlib import Path

from dlmbuild.vision.collate import end_of_turn_ids, processor_inputs, prompt_text
from dlmbuild.vision.images import DEFAULT_MAX_PIXELS, load_image
from dlmbuild.vision.model import cpu_threads, load_model, load_processor


def generate(model_dir: Path, images: list[Path], question: str, *, adapter_dir: Path | None = None,
             max_new_tokens: int = 32, temperature: float = 0.0, seed: int = 0, threads: int = 0,
             max_pixels: int = DEFAULT_MAX_PIXELS) -> str:
    """The model's answer to ``question`` about ``images`` (special tokens removed, stripped)."""
    import torch

    pictures = [load_image(p, max_pixels=max_pixels) for p in images]
    with cpu_threads(threads):
        processor = load_processor(model_dir)
        model = load_model(model_dir)
        if adapter_dir is not None:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(adapter_dir)).eval()
        inputs = processor_inputs(processor, prompt_text(processor, len(pictures), question), pictures)
        stops = sorted(end_of_turn_ids(processor.tokenizer))
        options = {"do_sample": False} if temperature <= 0 else {"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0}
        if temperature > 0:
            torch.manual_seed(seed)
        with torch.no_grad():
            out = model.generate(**inputs, max_new_tokens=max_new_tokens, eos_token_id=stops,
                                 pad_token_id=processor.tokenizer.pad_token_id, **options)
    new_tokens = out[0, inputs["input_ids"].shape[1]:]
    return processor.tokenizer.decode(new_tokens, skip_special_tokens=True).strip()
