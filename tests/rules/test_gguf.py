"""A native crash in llama.cpp during an export is one line, never a dead build: the quantizer
child really dies of SIGSEGV (``DLM_NATIVE_FAULT``), the target fails with the crash line,
``--keep-going`` builds what does not depend on it, and the installed export stays as it was."""

from __future__ import annotations

import shutil

import pytest

from dlmbuild.cli.build import run_build
from dlmbuild.export.native import FAULT_ENV
from tests.rules.conftest import age

DOC = """---
dlm_id: 01JD5ZQ8V7W9X2Y3Z4A5B6C7F1
base_model: ./base
training:
  sequence_len: 128
  max_steps: 2
  anchor:
    enabled: false
export:
  default_quant: {quant}
---
::instruction::
### Q
Who invented Kelvarro?
### A
Ada Drummond invented Kelvarro in 1921.
"""


@pytest.fixture
def crash_dir(tiny_llama, tmp_path, monkeypatch):
    root = tmp_path / "proj"
    shutil.copytree(tiny_llama, root / "base")
    (root / "doc.dlm").write_text(DOC.format(quant="Q8_0"))
    age(root)
    monkeypatch.setenv("DLM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("DLM_DEBUG", raising=False)
    return root


def test_a_crashing_quantizer_fails_one_target_and_keeps_the_previous_export(crash_dir, tmp_path, monkeypatch, capsys):
    doc = crash_dir / "doc.dlm"
    assert run_build(doc, [":export-llama-server"], quiet=True) == 0
    server = next((tmp_path / "home" / "store").iterdir()) / "exports" / "llama-server"
    before = {p.name: p.read_bytes() for p in server.iterdir()}

    doc.write_text(DOC.format(quant="Q4_K_M"))
    monkeypatch.setenv(FAULT_ENV, "convert:quantize_here")
    capsys.readouterr()
    assert run_build(doc, [":export-llama-server", ":gguf-lora"], keep_going=True) == 1
    captured = capsys.readouterr()
    out = captured.out + captured.err
    assert ("FAILED  :gguf-q4_k_m  llama.cpp crashed (SIGSEGV) while quantizing doc.F16.gguf to Q4_K_M; "
            "the previous export is kept (DLM_DEBUG=1 shows its log)") in out
    assert "Traceback" not in out and "Fatal Python error" not in out
    # --keep-going: the LoRA GGUF does not depend on the quant, so it built (and was smoke-tested)
    assert "built   :gguf-lora" in out and "skip    :export-llama-server" in out
    assert {p.name: p.read_bytes() for p in server.iterdir()} == before

    monkeypatch.delenv(FAULT_ENV)
    assert run_build(doc, [":export-llama-server"], quiet=True) == 0
    assert "doc.Q4_K_M.gguf" in {p.name for p in server.iterdir()}


def test_a_crashing_smoke_test_stops_the_build_cleanly_without_keep_going(crash_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(FAULT_ENV, "smoke:llama_smoke")
    assert run_build(crash_dir / "doc.dlm", [":export-llama-server"]) == 1
    captured = capsys.readouterr()
    out = captured.out + captured.err
    assert "FAILED  :gguf-f16  llama.cpp crashed (SIGSEGV) while smoke-testing doc.F16.gguf; the previous export is kept" in out
    assert "Traceback" not in out and out.count("FAILED") == 1
    assert "built   :merge" in out and "built   :export-llama-server" not in out
    assert not list((tmp_path / "home").rglob("exports"))
