"""PEFT -> mlx-lm adapter conversion (the mlx launch script is tested in test_launchers.py).

mlx itself cannot be installed here, so the tests check the converted tensors against what
mlx-lm's LoRALinear / DoRALinear compute (``mlx_lm/tuner/lora.py``, ``dora.py``), written out in
numpy, and against PEFT's own layers.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")
pytest.importorskip("transformers")

from safetensors.numpy import load_file as load_numpy  # noqa: E402

from dlmbuild.errors import EXIT_BAD_INPUT, UsageError  # noqa: E402
from dlmbuild.export.mlx import convert_adapter  # noqa: E402

torch.set_num_threads(1)

LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
KEYS = sorted(
    [f"self_attn.{m}" for m in LINEAR[:4]] + [f"mlp.{m}" for m in LINEAR[4:]]
)
NUM_LAYERS = 2


def _peft_adapter(folder: Path, **lora: object):
    """A tiny random Llama wrapped with PEFT, lora_B (and DoRA magnitudes) randomized, saved."""
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        hidden_size=32,
        num_hidden_layers=NUM_LAYERS,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=64,
        intermediate_size=64,
    )
    options = {"r": 4, "lora_alpha": 8, "target_modules": LINEAR} | lora
    model = get_peft_model(LlamaForCausalLM(config), LoraConfig(**options))
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name or "lora_magnitude_vector" in name:
                param.add_(torch.randn_like(param) * 0.5)
    model.eval()
    model.save_pretrained(str(folder))
    return model


def _lora_layers(model):
    from peft.tuners.lora import LoraLayer

    for name, module in model.named_modules():
        if isinstance(module, LoraLayer) and "default" in module.lora_A:
            # "base_model.model.model.layers.0.self_attn.q_proj" -> mlx "model.layers.0...."
            yield name.removeprefix("base_model.model."), module


@pytest.fixture(scope="module")
def lora(tmp_path_factory):
    root = tmp_path_factory.mktemp("lora")
    model = _peft_adapter(root / "peft")
    out = root / "mlx"
    out.mkdir()
    config = convert_adapter(root / "peft", out, NUM_LAYERS)
    return model, root, out, config


def test_lora_tensors_reproduce_peft_delta(lora):
    model, _, out, config = lora
    tensors = load_numpy(str(out / "adapters.safetensors"))
    layers = dict(_lora_layers(model))
    assert len(layers) == NUM_LAYERS * len(LINEAR)
    expected = {f"{name}.{part}" for name in layers for part in ("lora_a", "lora_b")}
    assert set(tensors) == expected

    scale = config["lora_parameters"]["scale"]
    rng = np.random.default_rng(1)
    for name, module in layers.items():
        A = module.lora_A["default"].weight.detach().numpy()  # (r, in)
        B = module.lora_B["default"].weight.detach().numpy()  # (out, r)
        lora_a, lora_b = tensors[f"{name}.lora_a"], tensors[f"{name}.lora_b"]
        assert lora_a.dtype == np.float32 and lora_b.dtype == np.float32
        assert lora_a.shape == (A.shape[1], 4) and lora_b.shape == (4, B.shape[0])
        assert module.scaling["default"] == scale

        x = rng.standard_normal((3, A.shape[1])).astype(np.float32)
        ours = (x @ lora_a @ lora_b) * scale
        peft_formula = (x @ A.T @ B.T) * (8 / 4)
        np.testing.assert_allclose(ours, peft_formula, rtol=1e-5, atol=1e-6)
        with torch.no_grad():
            xt = torch.from_numpy(x)
            live = (module(xt) - module.base_layer(xt)).numpy()
        np.testing.assert_allclose(ours, live, rtol=1e-4, atol=1e-5)


def test_lora_config_is_what_mlx_lm_reads(lora):
    _, _, out, config = lora
    assert config == {
        "fine_tune_type": "lora",
        "num_layers": NUM_LAYERS,
        "lora_parameters": {"rank": 4, "scale": 2.0, "dropout": 0.0, "keys": KEYS},
    }
    assert json.loads((out / "adapter_config.json").read_text()) == config
    assert sorted(p.name for p in out.iterdir()) == ["adapter_config.json", "adapters.safetensors"]
    assert [p.stat().st_mode & 0o777 for p in sorted(out.iterdir())] == [0o644, 0o644]  # readable by whoever serves


def test_conversion_is_byte_identical(lora, tmp_path):
    _, root, out, _ = lora
    again = tmp_path / "again"
    again.mkdir()
    convert_adapter(root / "peft", again, NUM_LAYERS)
    for name in ("adapters.safetensors", "adapter_config.json"):
        assert (again / name).read_bytes() == (out / name).read_bytes()


def test_rslora_scale(tmp_path):
    model = _peft_adapter(tmp_path / "peft", use_rslora=True, target_modules=["q_proj"])
    (tmp_path / "mlx").mkdir()
    config = convert_adapter(tmp_path / "peft", tmp_path / "mlx", NUM_LAYERS)
    scale = config["lora_parameters"]["scale"]
    assert scale == 8 / math.sqrt(4) == 4.0
    assert config["lora_parameters"]["keys"] == ["self_attn.q_proj"]
    assert all(m.scaling["default"] == scale for _, m in _lora_layers(model))


def test_dora_matches_peft_forward(tmp_path):
    model = _peft_adapter(tmp_path / "peft", use_dora=True, target_modules=["q_proj", "down_proj"])
    out = tmp_path / "mlx"
    out.mkdir()
    config = convert_adapter(tmp_path / "peft", out, NUM_LAYERS)
    assert config["fine_tune_type"] == "dora"
    assert config["lora_parameters"]["keys"] == ["mlp.down_proj", "self_attn.q_proj"]
    tensors = load_numpy(str(out / "adapters.safetensors"))
    assert len(tensors) == NUM_LAYERS * 2 * 3

    scale = config["lora_parameters"]["scale"]
    rng = np.random.default_rng(2)
    for name, module in _lora_layers(model):
        a, b, m = (tensors[f"{name}.{p}"] for p in ("lora_a", "lora_b", "m"))
        w = module.base_layer.weight.detach().numpy()
        assert m.shape == (w.shape[0],)
        x = rng.standard_normal((3, w.shape[1])).astype(np.float32)
        # mlx_lm.tuner.dora.DoRALinear.__call__, in numpy
        adapted = w + (scale * b.T) @ a.T
        mlx_out = (m / np.linalg.norm(adapted, axis=1)) * (x @ w.T + scale * (x @ a @ b))
        with torch.no_grad():
            peft_out = module(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(mlx_out, peft_out, rtol=1e-4, atol=1e-5)


def test_uncovered_layers_are_allowed_for_lora(tmp_path):
    _peft_adapter(tmp_path / "peft", layers_to_transform=[1], target_modules=["v_proj"])
    (tmp_path / "mlx").mkdir()
    config = convert_adapter(tmp_path / "peft", tmp_path / "mlx", NUM_LAYERS)
    assert config["num_layers"] == NUM_LAYERS
    tensors = load_numpy(str(tmp_path / "mlx" / "adapters.safetensors"))
    assert sorted(tensors) == [
        "model.layers.1.self_attn.v_proj.lora_a",
        "model.layers.1.self_attn.v_proj.lora_b",
    ]


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"rank_pattern": {"q_proj": 2}}, "different LoRA rank/scale"),
        ({"alpha_pattern": {"down_proj": 16}}, "different LoRA rank/scale"),
        ({"target_modules": ["q_proj", "lm_head"]}, "trains lm_head, outside the decoder"),
        ({"target_modules": ["q_proj", "embed_tokens"]}, "trains model.embed_tokens, outside"),
        ({"target_modules": ["q_proj"], "modules_to_save": ["lm_head"]}, "modules_to_save"),
        (
            {"target_modules": ["q_proj"], "use_dora": True, "layers_to_transform": [0]},
            "DoRA adapter does not cover model.layers.1.self_attn.q_proj",
        ),
    ],
    ids=["rank_pattern", "alpha_pattern", "lm_head", "embed_tokens", "modules_to_save", "dora_gap"],
)
def test_refusals(tmp_path, options, needle):
    _peft_adapter(tmp_path / "peft", **options)
    out = tmp_path / "mlx"
    out.mkdir()
    with pytest.raises(UsageError) as err:
        convert_adapter(tmp_path / "peft", out, NUM_LAYERS)
    assert needle in str(err.value) and "\n" not in str(err.value)
    assert err.value.exit_code == EXIT_BAD_INPUT
    assert list(out.iterdir()) == []


def test_pattern_with_the_same_scale_is_accepted(tmp_path):
    _peft_adapter(
        tmp_path / "peft", target_modules=["q_proj", "v_proj"], alpha_pattern={"v_proj": 8}
    )
    (tmp_path / "mlx").mkdir()
    config = convert_adapter(tmp_path / "peft", tmp_path / "mlx", NUM_LAYERS)
    assert config["lora_parameters"]["scale"] == 2.0


def _edited_copy(src: Path, dst: Path, edit) -> Path:
    from safetensors.torch import load_file, save_file

    dst.mkdir()
    (dst / "adapter_config.json").write_bytes((src / "adapter_config.json").read_bytes())
    tensors = load_file(str(src / "adapter_model.safetensors"))
    save_file(edit(tensors), str(dst / "adapter_model.safetensors"))
    return dst


def test_bf16_adapter_is_upcast_exactly(lora, tmp_path):
    _, root, out, _ = lora
    peft = _edited_copy(
        root / "peft", tmp_path / "peft", lambda t: {k: v.to(torch.bfloat16) for k, v in t.items()}
    )
    (tmp_path / "mlx").mkdir()
    convert_adapter(peft, tmp_path / "mlx", NUM_LAYERS)
    got = load_numpy(str(tmp_path / "mlx" / "adapters.safetensors"))
    full = load_numpy(str(out / "adapters.safetensors"))
    for name, value in got.items():
        assert value.dtype == np.float32
        rounded = torch.from_numpy(full[name]).to(torch.bfloat16).float().numpy()
        assert np.array_equal(value, rounded)


def test_refuses_tensor_mlx_has_no_slot_for(lora, tmp_path):
    _, root, _, _ = lora
    key = "base_model.model.model.layers.0.self_attn.q_proj.lora_B.bias"
    peft = _edited_copy(root / "peft", tmp_path / "peft", lambda t: t | {key: torch.zeros(32)})
    (tmp_path / "mlx").mkdir()
    with pytest.raises(UsageError, match="has no counterpart in mlx-lm"):
        convert_adapter(peft, tmp_path / "mlx", NUM_LAYERS)


def test_refuses_bad_arguments(lora, tmp_path):
    _, root, _, _ = lora
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(UsageError, match="only 1 layers"):
        convert_adapter(root / "peft", out, 1)
    with pytest.raises(UsageError, match="positive integer"):
        convert_adapter(root / "peft", out, 0)
    with pytest.raises(UsageError, match="missing"):
        convert_adapter(tmp_path, out, NUM_LAYERS)
    with pytest.raises(UsageError, match="does not exist"):
        convert_adapter(root / "peft", tmp_path / "nowhere", NUM_LAYERS)
