"""Model builders for export tests (fixtures ``tiny_llama`` and ``toolchain`` are in tests/conftest.py).

A tiny random-init Llama that llama.cpp's converter accepts: SmolLM2's real tokenizer (the
converter recognises its pre-tokenizer) on a 2-layer, 256-wide model built from a config here.
256 columns keep K-quants real (they need rows divisible by 256). Weights are drawn with a wide
init so greedy choices are decisive and float16 rounding cannot flip them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "generation_config.json")


def make_tiny_llama(folder: Path, embedded_dir: Path, seed: int = 0) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    folder.mkdir(parents=True, exist_ok=True)
    for name in TOKENIZER_FILES:
        if (embedded_dir / name).is_file():
            shutil.copyfile(embedded_dir / name, folder / name)
    vocab = json.loads((embedded_dir / "config.json").read_text())["vocab_size"]
    config = LlamaConfig(vocab_size=vocab, hidden_size=256, intermediate_size=512, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, max_position_embeddings=512, tie_word_embeddings=True, initializer_range=0.2,
                         bos_token_id=1, eos_token_id=2, pad_token_id=2, rms_norm_eps=1e-5)
    torch.manual_seed(seed)
    LlamaForCausalLM(config).save_pretrained(str(folder))
    return folder


def random_adapter(base_dir: Path, out_dir: Path, seed: int, r: int = 4, alpha: int = 8, dora: bool = False,
                   targets=("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")) -> Path:
    """A PEFT LoRA adapter on ``base_dir`` with random A and B (B starts at zero in peft)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=torch.float32)
    model = get_peft_model(base, LoraConfig(r=r, lora_alpha=alpha, target_modules=list(targets), use_dora=dora))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name or "lora_A" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.2)
    model.save_pretrained(str(out_dir))
    return out_dir
