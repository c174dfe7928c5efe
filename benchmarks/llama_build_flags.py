"""What llama.cpp's build flags cost: prompt and generation tokens/s of each quant of the
embedded 135M base, under several builds of the pinned llama-cpp-python, against a named
baseline build run in the same session.

    python benchmarks/llama_build_flags.py --variant pinned=installed \\
        --variant native=/tmp/variants/native --variant avx512=/tmp/variants/avx512 \\
        [--baseline pinned] [--quants q4_k_m,q5_k_m,q6_k,q8_0,q4_0,embedded-q4_1] [--threads 1]

A variant is a folder holding a ``llama_cpp`` package (a wheel built with other ``CMAKE_ARGS``,
unzipped), or ``installed`` for the toolchain in this environment. Each measurement runs in its
own child process through ``dlmbuild.export.native``, so a build that crashes (the native AMX
build on Sapphire-Rapids-class CPUs) is reported as such, not fatal. The GGUFs come from the
embedded base: F16 by the pinned converter, each quant by the pinned quantizer, plus the
package's own Q4_1 file.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROMPT = ("The lighthouse keeper wrote in her log that the storm had started before midnight, that the lamp had "
          "failed twice, and that a fishing boat had come into the harbour with its nets torn. ") * 6


def measure(gguf: str, prompt: str, tokens: int, threads: int, variant: str) -> dict:
    """Runs in a child: prompt-processing and generation rates of one GGUF in one build."""
    if variant != "installed":
        sys.path.insert(0, variant)
    import llama_cpp

    llm = llama_cpp.Llama(model_path=gguf, n_ctx=1024, n_threads=threads, n_batch=512, seed=0, verbose=False)
    try:
        ids = llm.tokenize(prompt.encode("utf-8"), add_bos=False)
        best_prompt, best_gen = 0.0, 0.0
        for _ in range(3):
            llm.reset()
            start = time.perf_counter()
            llm.eval(ids)
            best_prompt = max(best_prompt, len(ids) / (time.perf_counter() - start))
            start, n = time.perf_counter(), 0
            for _token in llm.generate(ids, temp=0.0, top_k=1):
                n += 1
                if n >= tokens:
                    break
            best_gen = max(best_gen, n / (time.perf_counter() - start))
        answer = llm.detokenize(list(llm.eval_tokens)[len(ids):]).decode("utf-8", errors="replace")
        system = llama_cpp.llama_print_system_info().decode()
        return {"prompt_tokens": len(ids), "prompt_tps": best_prompt, "gen_tps": best_gen,
                "amx": "AMX_INT8 = 1" in system, "avx512": "AVX512 = 1" in system, "answer": answer[:40]}
    finally:
        llm.close()


def ggufs(folder: Path, quants: list[str]) -> dict[str, Path]:
    from dlmbuild.bases.embedded import locate_gguf
    from dlmbuild.bases.resolve import resolve_base
    from dlmbuild.export import convert
    from dlmbuild.export.toolchain import require
    from dlmbuild.store.layout import dlm_home

    base = resolve_base("smollm2-135m", ROOT, home=dlm_home(), materialize=True)
    f16 = folder / "base.F16.gguf"
    convert.to_gguf(require(), base.path, f16, "f16", "smollm2-135m")
    out = {}
    for quant in quants:
        if quant == "embedded-q4_1":
            out[quant] = locate_gguf().gguf
        elif quant == "f16":
            out[quant] = f16
        else:
            out[quant] = folder / f"base.{quant.upper()}.gguf"
            convert.quantize(f16, out[quant], quant)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", action="append", required=True, help="NAME=FOLDER or NAME=installed")
    parser.add_argument("--baseline", help="the variant ratios are against (default: the first)")
    parser.add_argument("--quants", default="q4_k_m,q5_k_m,q6_k,q8_0,q4_0,embedded-q4_1")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    variants = dict(v.split("=", 1) for v in args.variant)
    baseline = args.baseline or next(iter(variants))
    from dlmbuild.errors import DlmError
    from dlmbuild.export.native import run_isolated

    with tempfile.TemporaryDirectory(prefix="dlm-bench-flags-") as tmp:
        files = ggufs(Path(tmp), args.quants.split(","))
        rows: dict[tuple[str, str], dict | str] = {}
        for quant, path in files.items():
            for name, folder in variants.items():
                try:
                    rows[quant, name] = run_isolated("benchmarks.llama_build_flags:measure",
                                                     {"gguf": str(path), "prompt": PROMPT, "tokens": args.tokens,
                                                      "threads": args.threads, "variant": folder},
                                                     doing=f"running {path.name} under the {name} build")
                except DlmError as exc:
                    rows[quant, name] = str(exc)
    print(f"threads={args.threads}, generation of {args.tokens} tokens, best of 3; ratios against '{baseline}'")
    print(f"{'quant':<14}{'build':<10}{'prompt tok/s':>14}{'ratio':>8}{'gen tok/s':>11}{'ratio':>8}  notes")
    for quant in files:
        base_row = rows[quant, baseline]
        for name in variants:
            row = rows[quant, name]
            if isinstance(row, str):
                print(f"{quant:<14}{name:<10}{'':>14}{'':>8}{'':>11}{'':>8}  {row}")
                continue
            ratio = lambda key: f"{row[key] / base_row[key]:.2f}" if isinstance(base_row, dict) else "-"  # noqa: E731
            notes = ", ".join(n for n, on in (("AMX", row["amx"]), ("AVX-512", row["avx512"])) if on) or "AVX2"
            print(f"{quant:<14}{name:<10}{row['prompt_tps']:>14.0f}{ratio('prompt_tps'):>8}{row['gen_tps']:>11.1f}"
                  f"{ratio('gen_tps'):>8}  {notes}; {row['prompt_tokens']}-token prompt -> {row['answer']!r}")


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
