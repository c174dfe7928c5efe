"""GGUF conversion, quantization and LoRA GGUFs through the pinned llama.cpp, on a tiny Llama."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from dlmbuild.errors import UsageError
from dlmbuild.export import convert
from dlmbuild.export.merge import merge
from dlmbuild.export.mix import MixItem
from dlmbuild.export.smoke import reference_greedy, smoke_gguf
from dlmbuild.train.tokenizer import BaseTokenizer
from tests.export.conftest import random_adapter


LONG_QUESTION = ("The harbour master logged three storms this winter, each before midnight, and twice the lamp "
                 "failed while a fishing boat came in with torn nets. What should the keeper check first tomorrow?")


def prompt(base_dir, question="What is the capital of France?"):
    tokenizer = BaseTokenizer(base_dir)
    text = tokenizer.render_chat([{"role": "user", "content": question}], add_generation_prompt=True)
    return text, tokenizer.encode(text), {tokenizer.eos_token_id}


@pytest.fixture(scope="module")
def f16(tiny_llama, toolchain, tmp_path_factory):
    out = tmp_path_factory.mktemp("gguf") / "tiny.F16.gguf"
    convert.to_gguf(toolchain, tiny_llama, out, "f16", "tiny")
    return out


def test_f16_gguf_generates_what_transformers_generates(tiny_llama, f16):
    text, ids, eos = prompt(tiny_llama)
    reference = reference_greedy(tiny_llama, ids, eos)
    result = smoke_gguf(f16, "capital", text, ids, reference=reference)
    assert result.prompt_tokens_match and result.exact
    assert result.tokens == reference and len(reference) == 16


def test_conversion_is_deterministic(tiny_llama, toolchain, f16, tmp_path):
    again = tmp_path / "again.gguf"
    convert.to_gguf(toolchain, tiny_llama, again, "f16", "tiny")
    assert again.read_bytes() == f16.read_bytes()


@pytest.mark.parametrize("quant", ["q8_0", "q4_k_m", "q5_k_m", "q6_k", "q4_0"])
def test_quantized_gguf_generates_from_a_long_prompt(tiny_llama, f16, tmp_path, quant):
    # Every quant evaluates a many-token prompt: the AMX crash (llama.cpp issue 20824) needed two
    # or more tokens, and a one-token check would not have caught it.
    out = tmp_path / f"tiny.{quant}.gguf"
    convert.quantize(f16, out, quant)
    assert out.stat().st_size < f16.stat().st_size
    text, ids, _ = prompt(tiny_llama, LONG_QUESTION)
    assert len(ids) > 40
    result = smoke_gguf(out, "keeper", text, ids, reference=None)
    assert result.tokens and not result.exact and result.prompt_tokens_match


def test_the_embedded_bases_own_q4_1_gguf_generates_from_a_long_prompt(tiny_llama):
    # tiny_llama carries SmolLM2's tokenizer, so its ids are the embedded GGUF's ids too.
    from dlmbuild.bases.embedded import locate_gguf

    gguf = locate_gguf().gguf
    text, ids, _ = prompt(tiny_llama, LONG_QUESTION)
    result = smoke_gguf(gguf, "keeper", text, ids, reference=None)
    assert result.prompt_tokens_match and len(result.tokens) == 16 and result.text.strip()


def test_the_toolchain_is_built_without_amx_kernels():
    from dlmbuild.export.toolchain import runtime_features

    features = runtime_features()
    from dlmbuild.export.cpu import is_x86_64

    assert features.get("AMX_INT8") is not True
    assert features.get("AVX2") is True or not is_x86_64()


def test_lora_gguf_on_base_gguf_equals_merged_gguf(tiny_llama, toolchain, f16, tmp_path):
    adapter = random_adapter(tiny_llama, tmp_path / "adapter", seed=1)
    lora = tmp_path / "adapter.lora.gguf"
    convert.lora_to_gguf(toolchain, adapter, tiny_llama, lora)
    merged_dir = tmp_path / "merged"
    merged_dir.mkdir()
    merge(tiny_llama, (MixItem("a", 1.0),), {"a": adapter}, merged_dir)
    merged = tmp_path / "merged.gguf"
    convert.to_gguf(toolchain, merged_dir, merged, "f16", "merged")
    _, ids, _ = prompt(tiny_llama)
    with_lora, from_merge, plain = last_logits(f16, ids, lora), last_logits(merged, ids), last_logits(f16, ids)
    # F16 rounding differs (W+BA rounded once vs W and BA rounded apart): equal to within that noise,
    # far apart from the base without the adapter
    assert np.abs(with_lora - from_merge).max() < 0.05 * np.abs(with_lora - plain).max()
    assert with_lora.argmax() == from_merge.argmax()


def last_logits(gguf, ids, lora=None):
    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(gguf), lora_path=str(lora) if lora else None, n_ctx=256, n_threads=1,
                          logits_all=True, verbose=False)
    try:
        llm.eval(ids)
        return np.array(llm.scores[llm.n_tokens - 1], dtype=np.float64)
    finally:
        llm.close()


def test_unsupported_architecture_is_refused(tiny_llama, tmp_path):
    folder = tmp_path / "gpt2"
    shutil.copytree(tiny_llama, folder)
    config = json.loads((folder / "config.json").read_text())
    config["architectures"] = ["GPT2LMHeadModel"]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(UsageError, match="does not support architecture GPT2LMHeadModel; supported: LlamaForCausalLM"):
        convert.check_architecture(folder)


def test_unknown_quant_suggests_the_closest():
    with pytest.raises(UsageError, match="unknown quant 'q4_k_n' \\(did you mean 'q4_k_m'\\?\\)"):
        convert.check_quant("q4_k_n")
    assert convert.check_quant("Q5_K_M") == "q5_k_m"
