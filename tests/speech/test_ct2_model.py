"""Reading CTranslate2's model.bin and splitting its fused Whisper weights, on synthetic models
(numpy only: no wheel, no torch)."""

from __future__ import annotations

import pytest

from dlmbuild.bases.ct2_model import read_ct2_model
from dlmbuild.bases.whisper_ct2 import special_ids, whisper_state_dict
from dlmbuild.errors import DlmError
from tests.speech.ct2_writer import tiny_whisper, write_ct2

np = pytest.importorskip("numpy")


@pytest.fixture
def tiny(tmp_path):
    hf, ct, aliases = tiny_whisper(np.random.default_rng(7))
    return hf, write_ct2(tmp_path / "model.bin", ct, aliases)


def test_the_reader_gives_back_every_variable_and_alias(tmp_path, tiny):
    _hf, path = tiny
    _, ct, aliases = tiny_whisper(np.random.default_rng(7))
    model = read_ct2_model(path)
    assert (model.spec, model.revision, model.binary_version) == ("WhisperSpec", 3, 6)
    assert set(model.variables) == set(ct) and model.aliases == aliases
    for name, value in ct.items():
        assert model.variables[name].dtype == np.asarray(value).dtype and np.array_equal(model.variables[name], value)
    assert np.array_equal(model.get("decoder/projection/weight"), ct["decoder/embeddings/weight"])
    assert model.scalar("encoder/num_heads") == 2


def test_fused_attention_splits_back_into_q_k_v(tiny):
    hf, path = tiny
    state, dims = whisper_state_dict(read_ct2_model(path))
    assert set(state) == set(hf)  # k_proj has no bias, proj_out is tied (left out)
    for name, value in hf.items():
        assert state[name].dtype == np.float32 and np.array_equal(state[name], value.astype(np.float32)), name
    assert dims == {"num_mel_bins": 4, "d_model": 8, "encoder_layers": 2, "decoder_layers": 1, "encoder_attention_heads": 2,
                    "decoder_attention_heads": 2, "encoder_ffn_dim": 16, "decoder_ffn_dim": 16, "max_source_positions": 6,
                    "max_target_positions": 5, "vocab_size": 12, "tied": True}


def test_an_untied_projection_is_kept(tmp_path):
    hf, ct, _ = tiny_whisper(np.random.default_rng(1))
    ct["decoder/projection/weight"] = np.ones((12, 8), np.float16)
    state, dims = whisper_state_dict(read_ct2_model(write_ct2(tmp_path / "model.bin", ct)))
    assert not dims["tied"] and np.array_equal(state["proj_out.weight"], np.ones((12, 8), np.float32))


def test_a_key_bias_is_refused(tmp_path):
    _, ct, aliases = tiny_whisper(np.random.default_rng(2))
    bias = ct["decoder/layer_0/attention/linear_1/bias"].copy()
    bias[0] = 1
    ct["decoder/layer_0/attention/linear_1/bias"] = bias
    with pytest.raises(DlmError, match="non-zero key bias"):
        whisper_state_dict(read_ct2_model(write_ct2(tmp_path / "model.bin", ct, aliases)))


@pytest.mark.parametrize(("change", "message"), [
    ("truncate", "ends early"),
    ("version", "binary version 3"),
    ("spec", "is a TransformerSpec, not a WhisperSpec"),
    ("quantized", "int8/int16-quantized"),
    ("missing", "has no decoder/layer_norm/gamma"),
])
def test_bad_models_are_one_line(tmp_path, change, message):
    _, ct, aliases = tiny_whisper(np.random.default_rng(3))
    spec, version = "WhisperSpec", 6
    if change == "spec":
        spec = "TransformerSpec"
    elif change == "version":
        version = 3
    elif change == "quantized":
        ct["decoder/layer_0/fc1/weight_scale"] = np.ones(16, np.float32)
    elif change == "missing":
        del ct["decoder/layer_norm/gamma"]
    path = write_ct2(tmp_path / "model.bin", ct, aliases, spec=spec, version=version)
    if change == "truncate":
        path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DlmError) as err:
        whisper_state_dict(read_ct2_model(path))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_special_ids_come_from_the_tokenizer():
    added = [{"id": 5, "content": "<|endoftext|>"}, {"id": 6, "content": "<|startoftranscript|>"},
             {"id": 7, "content": "<|startoflm|>"}, {"id": 8, "content": "<|startofprev|>"}, {"id": 9, "content": "<|notimestamps|>"}]
    assert special_ids({"added_tokens": added}) == {"eot": 5, "sot": 6, "no_timestamps": 9, "prev": 8, "lm": 7}
    with pytest.raises(DlmError, match="lacks the special tokens <\\|notimestamps\\|>"):
        special_ids({"added_tokens": added[:4]})
