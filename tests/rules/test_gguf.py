"""A native crash in llama.cpp during an export is one line, never a dead build: the quantizer
child really dies of SIGSEGV (``DLM_NATIVE_FAULT``), the target fails with the crash line,
``--keep-going`` builds what does not depend on it, and the installed export stays as it was."""

from __future__ import annotations

from dlmbuild.cli.build import run_build
from dlmbuild.export.native import FAULT_ENV
from tests.rules.test_export import DOC, export_dir  # noqa: F401  (the export project fixture)


def test_a_crashing_quantizer_fails_one_target_and_keeps_the_previous_export(export_dir, tmp_path, monkeypatch, capsys):  # noqa: F811
    monkeypatch.delenv("DLM_DEBUG", raising=False)
    doc = export_dir / "doc.dlm"
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


def test_a_crashing_smoke_test_stops_the_build_cleanly_without_keep_going(export_dir, tmp_path, monkeypatch, capsys):  # noqa: F811
    monkeypatch.delenv("DLM_DEBUG", raising=False)
    monkeypatch.setenv(FAULT_ENV, "smoke:llama_smoke")
    assert run_build(export_dir / "doc.dlm", [":export-llama-server"]) == 1
    captured = capsys.readouterr()
    out = captured.out + captured.err
    assert "FAILED  :gguf-f16  llama.cpp crashed (SIGSEGV) while smoke-testing doc.F16.gguf; the previous export is kept" in out
    assert "Traceback" not in out and out.count("FAILED") == 1
    assert "built   :merge" in out and "built   :export-llama-server" not in out
    assert not list((tmp_path / "home").rglob("exports"))
