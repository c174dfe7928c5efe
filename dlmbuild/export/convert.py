"""GGUF files from HF folders, with the pinned llama.cpp converters and quantizer.

- ``to_gguf``: ``convert_hf_to_gguf.py`` writes an F16 (or Q8_0) GGUF with the tokenizer, its
  pre-tokenizer type, special tokens and the chat template embedded, exactly as llama.cpp itself
  would; dlm does not keep a second copy of that logic.
- ``quantize``: K-quants come from llama.cpp's own ``llama_model_quantize`` on the F16 file
  (the path llama.cpp documents: quantize from 16-bit, never from another quant).
- ``lora_to_gguf``: ``convert_lora_to_gguf.py`` writes an adapter as a GGUF LoRA against the
  base's config.

Converters run in a subprocess (they import torch and their own gguf-py); their stderr tail
becomes the one-line error. The quantizer runs in a child process too (``dlmbuild.export.native``),
so a native crash in either is one line, never a dead build. Architectures outside ``SUPPORTED`` are refused up front: they may
convert, but dlm has not checked their template, tokenizer and smoke test end to end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from dlmbuild.errors import EnvironmentProblem, UsageError
from dlmbuild.export.toolchain import Toolchain

SUPPORTED = {"LlamaForCausalLM": "Llama", "Qwen2ForCausalLM": "Qwen2", "Qwen3ForCausalLM": "Qwen3"}
CONVERTER_TYPES = ("f16", "q8_0")  # written by the converter directly (Q8_0 from the float weights)
QUANTS = ("f16", "q8_0", "q4_k_m", "q5_k_m", "q6_k")
# llama.cpp's ftype enum values for what is quantized from F16 (include/llama.h, LLAMA_FTYPE_MOSTLY_*)
FTYPES = {"q8_0": 7, "q4_k_m": 15, "q5_k_m": 17, "q6_k": 18, "q4_0": 2}  # q4_0: benchmarks and tests only


def check_architecture(model_dir: Path, supported: dict[str, str] = SUPPORTED, what: str = "GGUF export") -> str:
    """The model's architecture, or one line naming those ``what`` converts (text models here;
    vision/gguf.py passes its own table)."""
    config = json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8"))
    arch = (config.get("architectures") or ["unknown"])[0]
    if arch not in supported:
        raise UsageError(f"{what} does not support architecture {arch}; supported: {', '.join(supported)}")
    return arch


def check_quant(quant: str) -> str:
    q = quant.lower()
    if q not in QUANTS:
        from dlmbuild.util.suggest import did_you_mean

        raise UsageError(f"unknown quant '{quant}'{did_you_mean(q, QUANTS)}; choose one of: {', '.join(QUANTS)}")
    return q


def to_gguf(toolchain: Toolchain, model_dir: Path, out_file: Path, outtype: str, name: str) -> None:
    """Convert an HF folder to GGUF at ``outtype`` (f16 or q8_0)."""
    if outtype not in CONVERTER_TYPES:
        raise ValueError(f"the converter writes {CONVERTER_TYPES}, not {outtype}")
    run_tool([str(toolchain.convert_hf), str(model_dir), "--outfile", str(out_file), "--outtype", outtype,
          "--model-name", name], "convert_hf_to_gguf")
    check_written(out_file)


def lora_to_gguf(toolchain: Toolchain, adapter_dir: Path, base_dir: Path, out_file: Path) -> None:
    """Convert a PEFT adapter to a GGUF LoRA (F16) for ``--lora`` at load time."""
    run_tool([str(toolchain.convert_lora), str(adapter_dir), "--base", str(base_dir), "--outfile", str(out_file),
          "--outtype", "f16"], "convert_lora_to_gguf")
    check_written(out_file)


def quantize(source: Path, out_file: Path, quant: str, threads: int = 0, *, consequence: str = "", cancel=None) -> str:
    """Quantize an F16 GGUF with llama.cpp's quantizer, in a child process (a native crash there
    is one ``NativeCrash`` line, see ``dlmbuild.export.native``).

    Returns llama.cpp's summary of fallbacks: K-quants need rows divisible by 256, so a model
    whose hidden size is not (SmolLM2-135M: 576) gets Q5_0/Q8_0 for those tensors, as
    llama-quantize does."""
    from dlmbuild.export.native import run_isolated

    note = run_isolated("dlmbuild.export.convert:quantize_here",
                        {"source": str(source), "out_file": str(out_file), "quant": quant, "threads": threads},
                        doing=f"quantizing {source.name} to {quant.upper()}", consequence=consequence, cancel=cancel)
    check_written(out_file)
    return note


def quantize_here(source: str, out_file: str, quant: str, threads: int = 0) -> str:
    """The quantizer call itself (one C call); ``quantize`` runs it in a child process."""
    import llama_cpp

    from dlmbuild.export.native_log import captured_native_stderr

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = FTYPES[quant]
    params.nthread = threads
    with captured_native_stderr() as lines:
        code = llama_cpp.llama_model_quantize(str(source).encode(), str(out_file).encode(), params)
    if code != 0:
        detail = next((line.strip() for line in reversed(lines) if line.strip()), f"code {code}")
        if any("No space left" in line for line in lines):
            raise EnvironmentProblem(f"disk full while quantizing to {Path(out_file).name}")
        raise EnvironmentProblem(f"llama.cpp could not quantize {Path(source).name} to {quant.upper()}: {detail}")
    return next((line.split("WARNING:", 1)[1].strip() for line in lines if "fallback quantization" in line), "")


def run_tool(args: list[str], tool: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NO_LOCAL_GGUF"}
    env.setdefault("HF_HUB_OFFLINE", "1")
    done = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True)
    written = Path(args[args.index("--outfile") + 1]).name
    if done.returncode < 0:
        from dlmbuild.export.native import NativeCrash, crash_message, show_log_when_debugging

        show_log_when_debugging(done.stderr or "")
        raise NativeCrash(crash_message(done.returncode, f"writing {written} ({tool})"))
    if done.returncode != 0:
        lines = [line for line in (done.stderr or done.stdout).strip().splitlines() if line.strip()]
        tail = lines[-1].strip() if lines else f"exit {done.returncode}"
        if "No space left" in (done.stderr or ""):
            raise EnvironmentProblem(f"{tool}: disk full while writing {written}")
        raise EnvironmentProblem(f"llama.cpp {tool} failed: {tail}")


def check_written(path: Path) -> None:
    if not path.is_file() or path.stat().st_size < 32:
        raise EnvironmentProblem(f"{path.name} was not written")
    with open(path, "rb") as f:
        if f.read(4) != b"GGUF":
            raise EnvironmentProblem(f"{path.name} is not a GGUF file")
