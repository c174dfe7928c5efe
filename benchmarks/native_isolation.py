"""What running llama.cpp in a child process costs the smoke test: seconds per smoke test in a
child (``dlmbuild.export.native``, what every export does now) against the same calls in this
process (the baseline: what exports did before, when a native crash killed the build).

    python benchmarks/native_isolation.py [--gguf FILE] [--runs 5]

Default GGUF: the embedded base's own Q4_1 file. The prompt is the chat-rendered question the
smoke test asks; both paths tokenize it in llama.cpp and generate 16 greedy tokens.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gguf", type=Path)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from dlmbuild.bases.embedded import locate_gguf
    from dlmbuild.bases.resolve import resolve_base
    from dlmbuild.export.smoke import llama_smoke, smoke_gguf
    from dlmbuild.store.layout import dlm_home
    from dlmbuild.train.tokenizer import BaseTokenizer

    gguf = args.gguf or locate_gguf().gguf
    tokenizer = BaseTokenizer(resolve_base("smollm2-135m", ROOT, home=dlm_home(), materialize=True).path)
    text = tokenizer.render_chat([{"role": "user", "content": "Who invented Kelvarro, and in which year?"}], add_generation_prompt=True)
    ids = tokenizer.encode(text)

    def in_process() -> None:
        llama_smoke(str(gguf), text, ids)

    def isolated() -> None:
        smoke_gguf(gguf, "q", text, ids, reference=None)

    timings = {}
    for name, run in (("in-process", in_process), ("child process", isolated)):
        run()  # warm: page cache, imports
        seconds = []
        for _ in range(args.runs):
            start = time.perf_counter()
            run()
            seconds.append(time.perf_counter() - start)
        timings[name] = statistics.median(seconds)
    base = timings["in-process"]
    print(f"smoke test of {gguf.name}, {len(ids)}-token prompt, 16 tokens, median of {args.runs}; baseline: in-process")
    for name, value in timings.items():
        print(f"  {name:<14} {value:6.3f} s   {value / base:5.2f}x")


if __name__ == "__main__":
    main()
