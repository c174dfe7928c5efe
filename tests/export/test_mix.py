"""Adapter selection and mixing: parsing, refusals, and the mix being the exact weighted sum."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from dlmbuild.errors import DocumentError, UsageError
from dlmbuild.export.merge import merge, stored_dtype
from dlmbuild.export.mix import MixItem, check_mixable, parse_mix, select
from tests.export.conftest import random_adapter


def test_parse_mix_reads_weights_and_bare_names():
    assert parse_mix("knowledge:1.0, tone:0.5,style") == (MixItem("knowledge", 1.0), MixItem("tone", 0.5), MixItem("style", 1.0))


@pytest.mark.parametrize("text, message", [("a:x", "cannot read 'a:x'"), ("a:1,a:2", "names an adapter twice"), ("", "cannot read ''")])
def test_parse_mix_refuses_bad_text(text, message):
    with pytest.raises(UsageError, match=message):
        parse_mix(text)


def test_select_defaults_to_every_adapter_and_checks_names():
    assert select(["a", "b"], None, None) == (MixItem("a", 1.0), MixItem("b", 1.0))
    assert select(["a", "b"], "b", None) == (MixItem("b", 1.0),)
    with pytest.raises(DocumentError, match="unknown adapter 'tones' \\(did you mean 'tone'\\?\\); the document trains: facts, tone"):
        select(["facts", "tone"], None, "facts:1,tones:0.5")
    with pytest.raises(UsageError, match="not both"):
        select(["a"], "a", "a:1")


def _adapter_config(folder, **fields):
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "smollm2-135m", **fields}))
    return folder


def test_check_mixable_refuses_dora_qlora_and_mixed_bases(tmp_path):
    items = (MixItem("a", 1.0), MixItem("b", 0.5))
    folders = {"a": _adapter_config(tmp_path / "a"), "b": _adapter_config(tmp_path / "b", use_dora=True)}
    with pytest.raises(UsageError, match="cannot mix DoRA adapter 'b'"):
        check_mixable(items, folders, {"a": "lora", "b": "dora"}, dequantize=False)
    folders["b"] = _adapter_config(tmp_path / "b2")
    with pytest.raises(UsageError, match="adapter 'a' is QLoRA: .* pass --dequantize --merged"):
        check_mixable(items, folders, {"a": "qlora", "b": "lora"}, dequantize=False)
    check_mixable(items, folders, {"a": "qlora", "b": "lora"}, dequantize=True)
    folders["b"] = _adapter_config(tmp_path / "b3", base_model_name_or_path="qwen2.5-0.5b")
    with pytest.raises(UsageError, match="different bases"):
        check_mixable(items, folders, {}, dequantize=False)


def test_weighted_mix_merges_to_the_weighted_sum_of_deltas(tiny_llama, tmp_path):
    a = random_adapter(tiny_llama, tmp_path / "a", seed=1, r=4, alpha=8, targets=("q_proj", "down_proj"))
    b = random_adapter(tiny_llama, tmp_path / "b", seed=2, r=2, alpha=2, targets=("q_proj", "v_proj"))
    out = tmp_path / "merged"
    out.mkdir()
    summary = merge(tiny_llama, (MixItem("a", 1.0), MixItem("b", -0.5)), {"a": a, "b": b}, out)
    assert summary["dtype"] == stored_dtype(tiny_llama) == "float32"
    base, merged = load_file(str(tiny_llama / "model.safetensors")), load_file(str(out / "model.safetensors"))
    fa, fb = load_file(str(a / "adapter_model.safetensors")), load_file(str(b / "adapter_model.safetensors"))

    def delta(factors, module, scale):
        prefix = f"base_model.model.model.layers.0.{module}"
        if f"{prefix}.lora_A.weight" not in factors:
            return 0
        return scale * factors[f"{prefix}.lora_B.weight"] @ factors[f"{prefix}.lora_A.weight"]

    for module in ("self_attn.q_proj", "self_attn.v_proj", "mlp.down_proj", "self_attn.k_proj"):
        expected = base[f"model.layers.0.{module}.weight"] + 1.0 * delta(fa, module, 8 / 4) - 0.5 * delta(fb, module, 2 / 2)
        assert torch.allclose(merged[f"model.layers.0.{module}.weight"], expected, atol=1e-5), module
    assert (out / "tokenizer.json").read_bytes() == (tiny_llama / "tokenizer.json").read_bytes()
