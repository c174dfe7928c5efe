"""The export targets on the engine, end to end on a tiny random Llama with SmolLM2's tokenizer:
train, merge, convert, quantize, bundle, install; then the incremental contract (an edit to
export.default_quant rebuilds one GGUF and the bundles, nothing upstream) and the refusals."""

from __future__ import annotations

import json
import os
import shutil
import stat

import pytest

from dlmbuild.cli.build import run_build
from tests.rules.conftest import age

DOC = """---
dlm_id: 01JD5ZQ8V7W9X2Y3Z4A5B6C7E9
base_model: ./base
system_prompt: You answer about Kelvarro.
training:
  sequence_len: 128
  max_steps: 2
  anchor:
    enabled: false
export:
  default_quant: {quant}
  default_temperature: 0.3
---
::instruction::
### Q
Who invented Kelvarro?
### A
Ada Drummond invented Kelvarro in 1921.
"""


@pytest.fixture
def export_dir(tiny_llama, tmp_path, monkeypatch):
    root = tmp_path / "proj"
    shutil.copytree(tiny_llama, root / "base")
    (root / "doc.dlm").write_text(DOC.format(quant="Q8_0"))
    age(root)
    monkeypatch.setenv("DLM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return root


def build(root, *targets, **options):
    return run_build(root / "doc.dlm", list(targets), quiet=True, options=options or None)


def exports_root(tmp_path):
    return next((tmp_path / "home" / "store").iterdir()) / "exports"


def test_bundles_build_install_and_stay_cached(export_dir, tmp_path, capsys):
    assert build(export_dir, ":export-llama-server", ":export-ollama", ":export-hf") == 0
    root = exports_root(tmp_path)
    server = root / "llama-server"
    assert sorted(p.name for p in server.iterdir()) == [".dlm-export.json", "chat-template.jinja", "doc.Q8_0.gguf", "launch.sh", "smoke.json"]
    assert server.joinpath("launch.sh").stat().st_mode & stat.S_IXUSR
    assert "--n_ctx 128" in (server / "launch.sh").read_text() and '"${HOST:-127.0.0.1}"' in (server / "launch.sh").read_text()
    assert (server / "chat-template.jinja").read_text().endswith((export_dir / "base" / "chat_template.jinja").read_text())
    smoke = json.loads((server / "smoke.json").read_text())
    assert smoke["question"] == "Who invented Kelvarro?" and smoke["tokens"] and smoke["prompt_tokens_match"]
    modelfile = (root / "ollama" / "Modelfile").read_text()
    assert "\nFROM ./doc.Q8_0.gguf\n" in modelfile and "PARAMETER temperature 0.3" in modelfile
    assert 'PARAMETER stop "<|im_end|>"' in modelfile and "PARAMETER num_ctx 128" in modelfile
    assert 'SYSTEM """You answer about Kelvarro."""' in modelfile
    hf = root / "hf"
    assert {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "README.md", "SHA256SUMS"} <= {p.name for p in hf.iterdir()}
    manifest = json.loads((root / "manifest.json").read_text())
    assert set(manifest) == {"llama-server", "ollama", "hf"}
    assert manifest["ollama"]["files"]["Modelfile"] and len(manifest["ollama"]["files"]["doc.Q8_0.gguf"]) == 64
    lock = (export_dir / "dlm.lock").read_text()
    assert '":export-ollama"' in lock or "export-ollama" in lock

    # nothing changed: everything cached, the installed bundle untouched
    before = (server / "doc.Q8_0.gguf").stat().st_mtime_ns
    capsys.readouterr()
    assert run_build(export_dir / "doc.dlm", [":export-llama-server"], explain=True) == 0
    out = capsys.readouterr().out
    assert "built" not in out and (server / "doc.Q8_0.gguf").stat().st_mtime_ns == before


def test_editing_default_quant_rebuilds_only_the_gguf_and_bundle(export_dir, capsys):
    assert build(export_dir, ":export-llama-server") == 0
    (export_dir / "doc.dlm").write_text(DOC.format(quant="Q4_K_M"))
    capsys.readouterr()
    assert run_build(export_dir / "doc.dlm", [":export-llama-server"], explain=True) == 0
    out = capsys.readouterr().out
    built = sorted(line.split()[1] for line in out.splitlines() if line.strip().startswith("built"))
    assert built == [":export-llama-server", ":gguf-q4_k_m"], out
    for cached in (":train-default", ":merge", ":gguf-f16"):
        assert f"cached  {cached}" in out


def test_failed_export_leaves_the_previous_bundle(export_dir, tmp_path, monkeypatch):
    assert build(export_dir, ":export-llama-server") == 0
    server = exports_root(tmp_path) / "llama-server"
    before = {p.name: p.read_bytes() for p in server.iterdir()}
    from dlmbuild.export import convert

    def broken(*args, **kwargs):
        raise convert.EnvironmentProblem("disk full while quantizing")

    monkeypatch.setattr(convert, "quantize", broken)
    (export_dir / "doc.dlm").write_text(DOC.format(quant="Q6_K"))
    assert build(export_dir, ":export-llama-server") != 0
    assert {p.name: p.read_bytes() for p in server.iterdir()} == before
    assert not [p for p in server.parent.iterdir() if p.name.startswith(".")]


def test_unknown_quant_and_unknown_mix_adapter_fail_in_one_line(export_dir, run_dlm):
    trained = build(export_dir, ":train")
    assert trained == 0
    bad = run_dlm("export", export_dir / "doc.dlm", "--target", "gguf", "--quant", "q3_k")
    assert bad.code == 2 and bad.err.strip().count("\n") == 0 and "unknown quant 'q3_k'" in bad.err
    mix = run_dlm("export", export_dir / "doc.dlm", "--target", "hf", "--adapter-mix", "default:1,tone:0.5")
    assert mix.code != 0 and "unknown adapter 'tone'" in mix.err and "Traceback" not in mix.err


def test_export_before_training_says_how_to_train(export_dir, run_dlm):
    result = run_dlm("export", export_dir / "doc.dlm", "--target", "ollama")
    assert result.code != 0 and "adapter 'default' has not been trained yet; run 'dlm train" in result.err
    assert not (export_dir.parent / "home" / "store").exists() or not any((export_dir.parent / "home" / "store").rglob("exports"))


# --- vLLM and mlx-lm bundles, on the tiny trainable base of tests/rules/conftest.py -----------
# Neither needs llama.cpp: vLLM ships the merged HF folder, mlx-lm the converted adapter.

SMALL_DOC = """---
dlm_id: 01JD5ZQ8V7W9X2Y3Z4A5B6C7F1
base_model: ./base
system_prompt: the system
training:
  sequence_len: 64
  max_steps: 2
  lora_r: 4
  lora_alpha: 8
  target_modules: {modules}
  anchor:
    enabled: false
---
::instruction::
### Q
what is the fact
### A
the fact is a value
"""
ALL_LINEAR = ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]


@pytest.fixture
def small_dir(trainable_dir):
    (trainable_dir / "doc.dlm").write_text(SMALL_DOC.format(modules="auto"))
    age(trainable_dir)
    return trainable_dir


def _current_adapter(root):
    from dlmbuild.cli.common import open_project
    from dlmbuild.store.versions import AdapterVersions

    project, _ = open_project(root / "doc.dlm")
    return AdapterVersions(project.layout.adapters, "default").current().path


def test_vllm_bundle_serves_the_merged_model(small_dir, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    assert build(small_dir, ":export-vllm") == 0
    vllm = exports_root(tmp_path) / "vllm"
    assert sorted(p.name for p in vllm.iterdir()) == [".dlm-export.json", "config.yaml", "launch.sh", "model"]
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= {p.name for p in (vllm / "model").iterdir()}
    # the merge kept the base's float32; vLLM is told to serve float16, at the document's sequence_len
    assert (vllm / "config.yaml").read_text() == "max-model-len: 64\ndtype: float16\n"
    launch = (vllm / "launch.sh").read_text()
    assert vllm.joinpath("launch.sh").stat().st_mode & stat.S_IXUSR
    assert '--config "$HERE/config.yaml" --model "$HERE/model"' in launch and "--served-model-name doc " in launch
    assert '"${HOST:-127.0.0.1}"' in launch and str(tmp_path) not in launch
    # the chat template vLLM renders with carries the document's system prompt as the default
    template = json.loads((vllm / "model" / "tokenizer_config.json").read_text())["chat_template"]
    assert "the system" in template
    # the merged weights are the base plus the trained adapter
    ids = torch.tensor([[1, 3, 4, 5, 2]])
    with torch.no_grad():
        merged = AutoModelForCausalLM.from_pretrained(vllm / "model")(input_ids=ids).logits
        base = AutoModelForCausalLM.from_pretrained(small_dir / "base")
        plain = base(input_ids=ids).logits
        adapted = PeftModel.from_pretrained(base, _current_adapter(small_dir))(input_ids=ids).logits
    torch.testing.assert_close(merged, adapted, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(merged, plain)


def test_mlx_bundle_holds_the_converted_adapter_and_its_launcher(small_dir, tmp_path):
    from safetensors.numpy import load_file

    assert build(small_dir, ":export-mlx-serve") == 0
    mlx = exports_root(tmp_path) / "mlx-serve"
    assert sorted(p.name for p in mlx.iterdir()) == [".dlm-export.json", "adapters", "launch.sh"]
    assert sorted(p.name for p in (mlx / "adapters").iterdir()) == ["adapter_config.json", "adapters.safetensors"]
    keys = sorted([f"mlp.{m}" for m in ("down_proj", "gate_proj", "up_proj")] + [f"self_attn.{m}" for m in ("k_proj", "o_proj", "q_proj", "v_proj")])
    config_text = (mlx / "adapters" / "adapter_config.json").read_text()
    assert json.loads(config_text) == {"fine_tune_type": "lora", "num_layers": 2,
                                       "lora_parameters": {"rank": 4, "scale": 2.0, "dropout": 0.0, "keys": keys}}
    assert config_text == json.dumps(json.loads(config_text), indent=2, sort_keys=True) + "\n"
    tensors = load_file(str(mlx / "adapters" / "adapters.safetensors"))
    assert len(tensors) == 2 * 2 * len(keys)  # lora_a and lora_b, per module, per layer
    assert tensors["model.layers.1.self_attn.q_proj.lora_a"].shape == (16, 4)  # (in, r): hidden 16
    assert tensors["model.layers.1.mlp.down_proj.lora_b"].shape == (4, 16)  # (r, out)
    launch = (mlx / "launch.sh").read_text()
    assert mlx.joinpath("launch.sh").stat().st_mode & stat.S_IXUSR
    assert "\nmodel=./base\n" in launch and '--adapter-path "$here/adapters"' in launch and str(tmp_path) not in launch
    manifest = json.loads((exports_root(tmp_path) / "manifest.json").read_text())
    assert set(manifest["mlx-serve"]["files"]) == {"adapters/adapter_config.json", "adapters/adapters.safetensors", "launch.sh"}


def test_a_mix_is_saved_with_the_same_adapter_config_rules_as_training(small_dir, tmp_path):
    """The mix (peft cat, saved for the bundle) and the trained adapter go through one writer:
    the base named by its dlm key, target_modules sorted, keys sorted, one trailing newline."""
    assert build(small_dir, ":train") == 0
    trained_text = (_current_adapter(small_dir) / "adapter_config.json").read_text()
    assert build(small_dir, ":export-hf", adapter_mix="default:0.5") == 0
    mixed_text = (exports_root(tmp_path) / "hf" / "adapter_config.json").read_text()
    for text in (trained_text, mixed_text):
        config = json.loads(text)
        assert config["base_model_name_or_path"] == "./base" and config["target_modules"] == ALL_LINEAR
        assert text == json.dumps(config, indent=2, sort_keys=True) + "\n"
    assert "README.md" not in {p.name for p in _current_adapter(small_dir).iterdir()}


def test_an_adapter_mlx_cannot_hold_fails_in_one_line(small_dir, run_dlm):
    (small_dir / "doc.dlm").write_text(SMALL_DOC.format(modules="[q_proj, embed_tokens]"))
    age(small_dir)
    assert build(small_dir, ":train") == 0
    result = run_dlm("export", small_dir / "doc.dlm", "--target", "mlx-serve")
    assert result.code == 1 and "Traceback" not in result.err + result.out
    failed = [line for line in result.out.splitlines() if ":export-mlx-serve" in line]
    assert len(failed) == 1 and failed[0].split()[:2] == ["FAILED", ":export-mlx-serve"]
    assert "the adapter trains model.embed_tokens, outside the decoder layers (model.layers.N.*); " \
           "mlx-lm adapters only cover modules inside each layer" in failed[0]
    assert "ValueError" not in failed[0] and "DLM_DEBUG" not in failed[0]
    assert result.err.strip() == "dlm: 1 target(s) failed"


def test_the_graph_has_one_export_target_per_kind(project_dir):
    from dlmbuild.cli.common import open_project
    from dlmbuild.export.kinds import BUNDLES

    _, graph = open_project(project_dir / "doc.dlm")
    for kind in BUNDLES:
        target = graph.targets[f":export-{kind.name}"]
        assert target.description == kind.description
        wanted = {"gguf": (":gguf-q4_k_m",), "merge": (":merge",), "adapter": (":train-default",)}[kind.source]
        assert tuple(target.deps) == wanted
