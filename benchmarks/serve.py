"""``dlm serve`` against plain llama.cpp serving on the same GGUFs: time to first token, time per
request and requests per second, and what routing through the gate costs.

Servers, each on 127.0.0.1 with 2 llama.cpp threads, asked the same chat requests (temperature 0,
``max_tokens`` 32, streamed, through the official ``openai`` client):
- ``llama_cpp.server``: ``python -m llama_cpp.server`` on the base GGUF with one adapter's LoRA
  GGUF (the plain llama.cpp server of dlm's pinned toolchain; no routing, one adapter), with
  ``--interrupt_requests False`` (by default a new request cuts the running stream short, which
  would flatter its requests/s);
- ``dlm serve pinned``: ``model: "lanes:harbour"``, the same adapter;
- ``dlm serve routed``: ``model: "lanes"``, the gate embeds each prompt and picks the adapter.

The document is ``examples/lanes.dlm`` trained for a few steps per adapter in a scratch home
(throughput does not depend on how well it learned).

    .venv/bin/python benchmarks/serve.py [--requests 16] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
import quality  # noqa: E402

QUESTIONS = ["Who is the harbour master of Saltmarrow?", "What colour does the Gull Point lighthouse flash?",
             "When does the Saltmarrow fish market open?", "Where is the Drowned Lantern pub?"]
MAX_TOKENS = 32


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 300) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited:\n{log.read_text(errors='replace')[-2000:]}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except Exception:
            time.sleep(0.3)
    raise SystemExit(f"server did not answer {url}")


def one_request(client, model: str, question: str) -> tuple[float, float, int]:
    """(time to first content token, total time, completion pieces) of one streamed chat request."""
    started = time.perf_counter()
    first = None
    pieces = 0
    stream = client.chat.completions.create(model=model, messages=[{"role": "user", "content": question}], temperature=0,
                                            max_tokens=MAX_TOKENS, stream=True)
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            first = first or time.perf_counter() - started
            pieces += 1
    return first or 0.0, time.perf_counter() - started, pieces


def measure(base_url: str, model: str, requests: int, concurrency: int) -> dict:
    import openai

    client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=300)
    one_request(client, model, QUESTIONS[0])  # warm-up
    sequential = [one_request(client, model, QUESTIONS[i % len(QUESTIONS)]) for i in range(requests)]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(lambda i: one_request(client, model, QUESTIONS[i % len(QUESTIONS)]), range(requests)))
    wall = time.perf_counter() - started
    return {"ttft": statistics.median(r[0] for r in sequential), "total": statistics.median(r[1] for r in sequential),
            "pieces": statistics.mean(r[2] for r in sequential), "rps": requests / wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "_work" / "serve")
    args = parser.parse_args()
    quality.scratch_home(args.work)
    doc = args.work / "lanes.dlm"
    text = (ROOT / "examples" / "lanes.dlm").read_text(encoding="utf-8")
    doc.write_text(text.replace("  sequence_len: 256\n", "  sequence_len: 256\n  max_steps: 6\n"), encoding="utf-8")
    env = dict(os.environ)
    python = sys.executable
    built = subprocess.run([python, "-m", "dlmbuild", "build", str(doc), ":train", ":gguf-lora"], env=env, capture_output=True, text=True)
    if built.returncode:
        raise SystemExit(built.stderr[-2000:])

    rows = []
    # dlm serve (pinned and routed share one server)
    port = free_port()
    log = args.work / "dlm-serve.log"
    with open(log, "wb") as handle:
        proc = subprocess.Popen([python, "-m", "dlmbuild", "serve", str(doc), "--port", str(port), "--threads", "2", "--quiet"],
                                stdout=handle, stderr=subprocess.STDOUT, env=env)
        try:
            wait_http(f"http://127.0.0.1:{port}/health", proc, log)
            rows.append(("dlm serve pinned", measure(f"http://127.0.0.1:{port}/v1", "lanes:harbour", args.requests, args.concurrency)))
            rows.append(("dlm serve routed", measure(f"http://127.0.0.1:{port}/v1", "lanes", args.requests, args.concurrency)))
        finally:
            proc.terminate()
            proc.wait()
    # plain llama_cpp.server on the same files
    store = next((Path(env["DLM_HOME"]) / "store").iterdir())
    base_gguf = next(store.rglob("base.F16.gguf"))
    lora = next(store.rglob("harbour.lora.gguf"))
    port = free_port()
    log = args.work / "llama-cpp-server.log"
    with open(log, "wb") as handle:
        proc = subprocess.Popen([python, "-m", "llama_cpp.server", "--model", str(base_gguf), "--lora_path", str(lora),
                                 "--host", "127.0.0.1", "--port", str(port), "--n_threads", "2", "--n_ctx", "2048",
                                 "--interrupt_requests", "False"],
                                stdout=handle, stderr=subprocess.STDOUT, env=env)
        try:
            wait_http(f"http://127.0.0.1:{port}/v1/models", proc, log)
            rows.insert(0, ("llama_cpp.server", measure(f"http://127.0.0.1:{port}/v1", str(base_gguf), args.requests, args.concurrency)))
        finally:
            proc.terminate()
            proc.wait()

    baseline = rows[0][1]
    print(f"{args.requests} streamed requests, max_tokens {MAX_TOKENS}, temperature 0; requests/s at concurrency {args.concurrency}")
    print(f"{'server':20} {'TTFT s':>8} {'request s':>10} {'pieces':>7} {'s/piece':>8} {'req/s':>7} {'TTFT x':>7} {'req/s x':>8}")
    for name, r in rows:
        print(f"{name:20} {r['ttft']:>8.3f} {r['total']:>10.3f} {r['pieces']:>7.1f} {r['total'] / r['pieces']:>8.3f} {r['rps']:>7.2f} "
              f"{r['ttft'] / baseline['ttft']:>7.2f} {r['rps'] / baseline['rps']:>8.2f}")
    print("(answers differ in length: llama_cpp.server renders the GGUF's template without the document's system prompt)")
    pinned = dict(rows)["dlm serve pinned"]
    routed = dict(rows)["dlm serve routed"]
    overhead = routed["ttft"] - pinned["ttft"]
    print(f"routing overhead: {overhead * 1000:.1f} ms per request = {overhead / routed['total']:.1%} of a routed request's time")
    shutil.rmtree(args.work / "home" / "store", ignore_errors=True)


if __name__ == "__main__":
    main()
