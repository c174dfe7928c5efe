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
