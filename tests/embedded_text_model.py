"""The embedded SmolLM2-135M as the text model of a test-built multimodal base (the tiny
SmolVLM-shaped and Qwen2-Audio-shaped ones): its tokenizer with the family's special tokens
added, its config grown to the new vocabulary, and its weights copied in, the new tokens'
embeddings set to the mean of the existing ones (a neutral start)."""

from __future__ import annotations

from pathlib import Path


def extended_text_model(embedded_dir: Path, special_tokens) -> tuple:
    """``(tokenizer, text_config, old_vocab)``: the embedded tokenizer with ``special_tokens``
    added, and its config with the grown vocabulary and tied word embeddings."""
    from tokenizers import AddedToken
    from transformers import AutoConfig, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(embedded_dir))
    old_vocab = len(tokenizer)
    tokenizer.add_tokens([AddedToken(t, special=True, normalized=False) for t in special_tokens], special_tokens=True)
    text_config = AutoConfig.from_pretrained(str(embedded_dir))
    text_config.vocab_size = len(tokenizer)
    text_config.tie_word_embeddings = True
    return tokenizer, text_config, old_vocab


def load_text_weights(text_model, embedded_dir: Path, vocab: int, old_vocab: int) -> None:
    """Copy the embedded weights into ``text_model`` (the multimodal model's inner text model),
    growing the embedding matrix from ``old_vocab`` to ``vocab`` rows."""
    import torch
    from safetensors.torch import load_file

    text_state = load_file(str(Path(embedded_dir) / "model.safetensors"))
    embed = text_state["model.embed_tokens.weight"]
    assert embed.shape[0] == old_vocab, (embed.shape, old_vocab)
    extra = embed.mean(dim=0, keepdim=True).expand(vocab - old_vocab, -1)
    text_state["model.embed_tokens.weight"] = torch.cat([embed, extra], dim=0)
    stripped = {k.removeprefix("model."): v for k, v in text_state.items() if k != "lm_head.weight"}
    missing, unexpected = text_model.load_state_dict(stripped, strict=False)
    if missing or unexpected:
        raise RuntimeError(f"text weights do not fit: missing {missing[:3]}, unexpected {unexpected[:3]}")
