"""Generating an answer from a multimodal base's prepared inputs, with or without an adapter:
what ``dlm prompt --image`` and ``--audio`` share once the processor has read the media.

Generation stops at the end-of-turn tokens training labels (``labels.end_of_turn_ids``).
``temperature=0`` is greedy and deterministic; above 0 it samples from a seeded generator.
"""

from __future__ import annotations

from pathlib import Path

from dlmbuild.multimodal.labels import end_of_turn_ids
from dlmbuild.multimodal.model import load_model


def answer(model_dir: Path, processor, inputs: dict, *, adapter_dir: Path | None = None, max_new_tokens: int = 32,
           temperature: float = 0.0, seed: int = 0) -> str:
    """The new text after ``inputs`` (the processor's tensors for one prompt), special tokens
    removed, stripped."""
    import torch

    model = load_model(model_dir)
    if adapter_dir is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter_dir)).eval()
    stops = sorted(end_of_turn_ids(processor.tokenizer))
    options = {"do_sample": False} if temperature <= 0 else {"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0}
    if temperature > 0:
        torch.manual_seed(seed)
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=max_new_tokens, eos_token_id=stops,
                             pad_token_id=processor.tokenizer.pad_token_id, **options)
    new_tokens = out[0, inputs["input_ids"].shape[1]:]
    return processor.tokenizer.decode(new_tokens, skip_special_tokens=True).strip()
