"""The llama.cpp side of ``dlm serve``: a child process that holds the base GGUF with every
adapter's LoRA GGUF attached and answers one request at a time over JSON lines.

Why a child: llama.cpp is native code (a crash is a signal no ``try`` catches), and the serve
front should stay a plain Python process that can report it in one line and stop cleanly. Why
per-request scales: ``llama_set_adapters_lora`` sets each attached adapter's scale on the
context, so one loaded model serves every adapter and every mix (scale ``w`` applies
``w · alpha/r · B A``, the exact weighted sum ``dlm prompt`` computes with peft).

Protocol (stdin → stdout, one JSON object per line):
- ``{"op": "generate", "ids": [...], "scales": {"name": w}, "max_tokens": n, "temperature": t,
  "top_p": p, "seed": s}`` → ``{"token": id}`` per generated token, then ``{"done": "stop"|"length"}``.
  A ``{"op": "cancel"}`` line sent meanwhile ends it early with ``{"done": "cancelled"}``.
- ``{"op": "embed", "text": "..."}`` → ``{"embedding": [...]}`` (the gate's features).
- Errors → ``{"error": "one line"}``. At start the worker prints ``{"ready": {...}}``.

The prompt arrives as token ids rendered and tokenised by the parent with the base's own
tokenizer and chat template, so the model sees exactly the ids ``dlm prompt`` gives it. Every
request starts from an empty KV cache: a cached prefix computed under other adapter scales
would be wrong.
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import sys


def _send(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


class LineReader:
    """Lines from a file descriptor without Python's buffering, so ``select`` tells the truth
    about whether a cancel is waiting."""

    def __init__(self, fd: int):
        self.fd = fd
        self.buffer = b""

    def _fill(self) -> bool:
        chunk = os.read(self.fd, 65536)
        self.buffer += chunk
        return bool(chunk)

    def line(self) -> str | None:
        """The next line, blocking; ``None`` at end of input."""
        while b"\n" not in self.buffer:
            if not self._fill():
                return None
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.decode("utf-8")

    def pending_line(self) -> str | None:
        """A line if one is already waiting, without blocking."""
        while b"\n" not in self.buffer:
            ready, _, _ = select.select([self.fd], [], [], 0)
            if not ready or not self._fill():
                return None
        return self.line()


class Worker:
    def __init__(self, base: str, loras: dict[str, str], n_ctx: int, n_threads: int, features: str | None):
        import llama_cpp

        self.llama_cpp = llama_cpp
        self.llm = llama_cpp.Llama(model_path=base, n_ctx=n_ctx, n_threads=n_threads, n_batch=min(512, n_ctx), seed=0, verbose=False)
        self.names = list(loras)
        self.adapters = []
        for name, path in loras.items():
            adapter = llama_cpp.llama_adapter_lora_init(self.llm.model, path.encode("utf-8"))
            if not adapter:
                raise RuntimeError(f"llama.cpp could not load the LoRA GGUF of adapter '{name}' ({path})")
            self.adapters.append(adapter)
        self.embedder = None
        if features:  # the gate's feature model: the base's first blocks
            from dlmbuild.gate.embed import Embedder

            self.embedder = Embedder(features, n_threads)
        self.scales: tuple[float, ...] | None = None

    def set_scales(self, scales: dict[str, float]) -> None:
        unknown = [n for n in scales if n not in self.names]
        if unknown:
            raise ValueError(f"unknown adapter '{unknown[0]}'")
        wanted = tuple(float(scales.get(n, 0.0)) for n in self.names)
        if wanted == self.scales:
            return
        count = len(self.adapters)
        array = (self.llama_cpp.llama_adapter_lora_p_ctypes * count)(*self.adapters)
        values = (ctypes.c_float * count)(*wanted)
        if self.llama_cpp.llama_set_adapters_lora(self.llm.ctx, array, count, values):
            raise RuntimeError("llama.cpp refused the LoRA scales")
        self.scales = wanted

    def generate(self, request: dict, reader: LineReader) -> None:
        self.set_scales(request.get("scales") or {})
        self.llm.reset()
        self.llm.set_seed(int(request.get("seed") or 0))
        temperature = float(request.get("temperature") or 0.0)
        options = {"temp": temperature, "top_p": float(request.get("top_p") or 1.0), "top_k": 0 if temperature > 0 else 1,
                   "min_p": 0.0, "repeat_penalty": 1.0}
        limit = int(request["max_tokens"])
        vocab = self.llm._model.vocab
        produced = 0
        for token in self.llm.generate(list(request["ids"]), **options):
            if self.llama_cpp.llama_token_is_eog(vocab, token):
                _send({"done": "stop"})
                return
            _send({"token": int(token)})
            produced += 1
            if produced >= limit:
                _send({"done": "length"})
                return
            waiting = reader.pending_line()
            if waiting and json.loads(waiting).get("op") == "cancel":
                _send({"done": "cancelled"})
                return
        _send({"done": "stop"})

    def embed(self, request: dict) -> None:
        if self.embedder is None:
            raise ValueError("this worker was started without the gate's embeddings")
        _send({"embedding": self.embedder(request["text"])})


def main() -> int:
    import faulthandler
    import signal

    faulthandler.enable()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; dlm serve stops us itself
    config = json.loads(sys.argv[1])
    reader = LineReader(sys.stdin.fileno())
    try:
        worker = Worker(config["base"], config["loras"], int(config["n_ctx"]), int(config["n_threads"]), config.get("features"))
    except Exception as exc:  # one line for the parent, which reports it and exits
        _send({"error": f"{type(exc).__name__}: {' '.join(str(exc).split())}"})
        return 1
    _send({"ready": {"adapters": worker.names, "n_ctx": int(config["n_ctx"])}})
    while True:
        line = reader.line()
        if line is None:
            return 0
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            op = request.get("op")
            if op == "generate":
                worker.generate(request, reader)
            elif op == "embed":
                worker.embed(request)
            elif op == "cancel":
                continue  # arrived after its request ended
            else:
                _send({"error": f"unknown op {op!r}"})
        except Exception as exc:
            _send({"error": f"{type(exc).__name__}: {' '.join(str(exc).split())}"})


if __name__ == "__main__":
    sys.exit(main())
