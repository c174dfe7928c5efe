"""The SmolVLM-shaped fixture base: what it is made of, and that the Auto classes load it offline."""

from __future__ import annotations

import json
from pathlib import Path

from tests.vision.tiny_vlm import IMAGE_SEQ_LEN, SPECIAL_TOKENS, VISION


def test_loads_offline_with_auto_classes(tiny_vlm, embedded_base):
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = AutoProcessor.from_pretrained(str(tiny_vlm), local_files_only=True)
    assert type(processor).__name__ == "Idefics3Processor"
    assert type(processor.image_processor).__name__ == "Idefics3ImageProcessorPil"
    assert processor.image_seq_len == IMAGE_SEQ_LEN == 4
    vocab = processor.tokenizer.get_vocab()
    assert all(token in vocab for token in SPECIAL_TOKENS)

    model = AutoModelForImageTextToText.from_pretrained(str(tiny_vlm), local_files_only=True)
    assert type(model).__name__ == "Idefics3ForConditionalGeneration"
    assert model.config.vision_config.num_hidden_layers == VISION["num_hidden_layers"]
    assert model.lm_head.weight.data_ptr() == model.model.text_model.embed_tokens.weight.data_ptr()
    text = load_file(str(Path(embedded_base[0].path) / "model.safetensors"))
    layer = "model.layers.3.self_attn.q_proj.weight"
    assert torch.equal(model.model.text_model.state_dict()[layer.removeprefix("model.")], text[layer])
    embed = text["model.embed_tokens.weight"]
    assert torch.equal(model.model.text_model.embed_tokens.weight[: embed.shape[0]], embed)


def test_config_spells_out_the_vision_shape(tiny_vlm):
    """llama.cpp's projector converter reads these keys from config.json itself."""
    config = json.loads((tiny_vlm / "config.json").read_text())
    assert {k: config["vision_config"][k] for k in VISION} == VISION
    assert config["text_config"]["architectures"] == ["LlamaForCausalLM"]


def test_built_deterministically(tiny_vlm, embedded_base, tmp_path):
    from tests.vision.tiny_vlm import build_tiny_vlm

    again = build_tiny_vlm(tmp_path / "again", Path(embedded_base[0].path))
    for name in ("model.safetensors", "config.json", "tokenizer.json"):
        assert (again / name).read_bytes() == (tiny_vlm / name).read_bytes(), name
