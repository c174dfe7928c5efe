"""Export costs on the embedded 135M base: seconds per quant, file sizes, and generation speed of
the Q4_K_M GGUF in llama.cpp against transformers ``generate`` on the merged model (the baseline,
run in the same process on the same prompt and thread count).

    python benchmarks/export.py [--doc examples/tutor.dlm] [--tokens 64] [--threads 2]

Trains the document first if its adapter is not built yet (minutes; uses your $DLM_HOME), then
builds ``:merge`` (cached if present) and times each conversion into a scratch folder.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def merged_folder(doc: Path) -> Path:
    from dlmbuild.cli.common import make_engine, open_project

    project, graph = open_project(doc, materialize_base=True, options={"smoke": False})
    results = make_engine(project, graph, quiet=True).run(graph.resolve([":merge"]), jobs=1)
    merge = next(r for r in results if r.name == ":merge")
    if merge.status not in ("built", "cached"):
        sys.exit(f"benchmark: :merge {merge.status}")
    return Path(merge.out_dir)


def prompt_ids(model_dir: Path) -> list[int]:
    from dlmbuild.train.tokenizer import BaseTokenizer

    tokenizer = BaseTokenizer(model_dir)
    text = tokenizer.render_chat([{"role": "user", "content": "Tell me about the rules of the game."}], add_generation_prompt=True)
    return tokenizer.encode(text)


def llama_rate(gguf: Path, ids: list[int], tokens: int, threads: int) -> float:
    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(gguf), n_ctx=512, n_threads=threads, seed=0, verbose=False)
    start, n = time.perf_counter(), 0
    for _ in llm.generate(ids, temp=0.0, top_k=1):
        n += 1
        if n >= tokens:
            break
    seconds = time.perf_counter() - start
    llm.close()
    return n / seconds


def transformers_rate(model_dir: Path, ids: list[int], tokens: int, threads: int) -> float:
    import torch
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(threads)
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32).eval()
    inputs = torch.tensor([ids])
    with torch.no_grad():
        start = time.perf_counter()  # both timings include the same prompt's prefill
        out = model.generate(inputs, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False)
        seconds = time.perf_counter() - start
    return (out.shape[1] - len(ids)) / seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--doc", type=Path, default=ROOT / "examples" / "tutor.dlm")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args()
    from dlmbuild.export import convert
    from dlmbuild.export.toolchain import require

    toolchain = require()
    merged = merged_folder(args.doc)
    print(f"merged model: {merged}")
    with tempfile.TemporaryDirectory(prefix="dlm-bench-export-") as tmp:
        f16 = Path(tmp) / "model.F16.gguf"
        start = time.perf_counter()
        convert.to_gguf(toolchain, merged, f16, "f16", "bench")
        print(f"{'F16':7s} {time.perf_counter() - start:6.2f} s  {f16.stat().st_size / 1e6:7.1f} MB  (llama.cpp converter, incl. ~interpreter start)")
        files = {"f16": f16}
        for quant in ("q8_0", "q6_k", "q5_k_m", "q4_k_m"):
            out = Path(tmp) / f"model.{quant.upper()}.gguf"
            start = time.perf_counter()
            convert.quantize(f16, out, quant)
            files[quant] = out
            print(f"{quant.upper():7s} {time.perf_counter() - start:6.2f} s  {out.stat().st_size / 1e6:7.1f} MB  (from F16)")
        ids = prompt_ids(merged)
        from dlmbuild.export.native_log import captured_native_stderr

        with captured_native_stderr():
            llama = llama_rate(files["q4_k_m"], ids, args.tokens, args.threads)
        baseline = transformers_rate(merged, ids, args.tokens, args.threads)
        print(f"generation, {args.tokens} tokens, {args.threads} threads: llama.cpp Q4_K_M {llama:.1f} tok/s; "
              f"transformers float32 merged (baseline) {baseline:.1f} tok/s; ratio {llama / baseline:.2f}x")


if __name__ == "__main__":
    main()
