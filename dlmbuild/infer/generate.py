"""Token-by-token generation with a KV cache, streaming decoded text as it grows.

A small loop instead of ``model.generate``: it streams through dlm's own tokenizer (no
transformers tokenizer needed), stops at the base's end-of-turn token, and draws samples from a
seeded ``torch.Generator`` so ``--seed`` makes a sampled answer repeatable. ``temperature 0`` is
greedy.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sampling:
    """How to draw tokens; the CLI fills it from options and the document's export defaults."""

    max_new_tokens: int = 256
    temperature: float = 0.7
    top_p: float = 0.9
    seed: int = 0


def pick(logits, settings: Sampling, generator) -> int:
    """The next token from one position's logits: the argmax at temperature 0, otherwise a
    draw from the temperature-scaled distribution cut to the smallest set holding ``top_p``."""
    import torch

    if settings.temperature <= 0:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits.float() / settings.temperature, dim=-1)
    if settings.top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        keep = torch.cumsum(sorted_probs, dim=-1) - sorted_probs < settings.top_p
        keep[0] = True
        probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_probs[keep])
        probs = probs / probs.sum()
    return int(torch.multinomial(probs, 1, generator=generator))


def stop_ids(tokenizer, model) -> set[int]:
    """End-of-turn ids: the tokenizer's eos and every eos the model's generation config names
    (bases whose chat turns end with a token other than the tokenizer's eos list it there)."""
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    config = getattr(model, "generation_config", None)
    eos = getattr(config, "eos_token_id", None)
    ids.update(eos if isinstance(eos, list) else [eos] if isinstance(eos, int) else [])
    return ids


def generate(model, tokenizer, prompt_ids: list[int], settings: Sampling, on_text=lambda s: None) -> str:
    """The answer's text; ``on_text`` receives each new piece as soon as it decodes cleanly."""
    import torch

    from dlmbuild.infer.kv_cache import decode_step

    generator = torch.Generator().manual_seed(settings.seed)
    stops = stop_ids(tokenizer, model)
    out: list[int] = []
    shown = ""
    cache = None
    step_ids = torch.tensor([prompt_ids], dtype=torch.long)
    with torch.inference_mode():
        for _ in range(settings.max_new_tokens):
            logits, cache = decode_step(model, step_ids, cache)
            token = pick(logits[0, -1], settings, generator)
            if token in stops:
                break
            out.append(token)
            text = tokenizer.decode(out)
            if not text.endswith("\ufffd"):  # wait for the rest of a multi-byte character
                on_text(text[len(shown):])
                shown = text
            step_ids = torch.tensor([[token]], dtype=torch.long)
    text = tokenizer.decode(out)
    if len(text) > len(shown):
        on_text(text[len(shown):])
    return text
