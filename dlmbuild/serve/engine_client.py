"""The serve front's handle on the llama.cpp worker: start it, send one request at a time, and
hand tokens back as they come.

One model, one context: requests are served in arrival order (a lock), which is what a 135M
model on a few CPU cores can do well; concurrent HTTP requests wait their turn instead of
failing. The worker runs in its own process group-free child; ``close`` ends it (stdin closed,
then terminate, then kill) so no llama.cpp process outlives ``dlm serve``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from dlmbuild.errors import EnvironmentProblem

START_TIMEOUT_S = 120.0


class WorkerDied(EnvironmentProblem):
    """The llama.cpp worker exited or crashed."""


class EngineClient:
    def __init__(self, base: Path, loras: dict[str, Path], *, n_ctx: int, n_threads: int, features: Path | None):
        from dlmbuild.export.native import _child_env

        config = {"base": str(base), "loras": {k: str(v) for k, v in loras.items()}, "n_ctx": n_ctx,
                  "n_threads": n_threads, "features": str(features) if features else None}
        self.child = subprocess.Popen([sys.executable, "-m", "dlmbuild.serve.worker", json.dumps(config)],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      env=_child_env(), bufsize=0)
        self.lock = threading.Lock()
        self._stderr: list[str] = []
        threading.Thread(target=self._drain_stderr, daemon=True, name="dlm-worker-log").start()
        first = self._read()
        if "error" in first:
            self.close()
            raise EnvironmentProblem(f"llama.cpp could not load the model: {first['error']}")
        self.ready = first.get("ready", {})

    def _drain_stderr(self) -> None:
        for raw in iter(self.child.stderr.readline, b""):
            self._stderr = (self._stderr + [raw.decode("utf-8", "replace").rstrip()])[-40:]

    def _read(self) -> dict:
        line = self.child.stdout.readline()
        if not line:
            code = self.child.wait()
            from dlmbuild.export.native import signal_name

            raise WorkerDied(f"the llama.cpp worker stopped ({signal_name(code)})")
        return json.loads(line)

    def _write(self, obj: dict) -> None:
        try:
            self.child.stdin.write((json.dumps(obj) + "\n").encode("utf-8"))
        except (BrokenPipeError, OSError):
            self._read()  # raises WorkerDied with the exit status
            raise

    @property
    def alive(self) -> bool:
        return self.child.poll() is None

    def embed(self, text: str) -> list[float]:
        with self.lock:
            self._write({"op": "embed", "text": text})
            reply = self._read()
        if "error" in reply:
            raise EnvironmentProblem(reply["error"])
        return reply["embedding"]

    def generate(self, ids: list[int], scales: dict[str, float], *, max_tokens: int, temperature: float, top_p: float,
                 seed: int, cancelled: threading.Event) -> Iterator[int | str]:
        """Token ids as they are sampled, then the finish reason (``"stop"`` or ``"length"``) as
        the last item. Holds the worker for the whole answer; ``cancelled`` ends it early."""
        with self.lock:
            self._write({"op": "generate", "ids": ids, "scales": scales, "max_tokens": max_tokens,
                         "temperature": temperature, "top_p": top_p, "seed": seed})
            finished = False
            try:
                while True:
                    if cancelled.is_set():
                        break
                    reply = self._read()
                    if "token" in reply:
                        yield reply["token"]
                    elif "done" in reply:
                        finished = True
                        yield reply["done"]
                        return
                    else:
                        finished = True
                        raise EnvironmentProblem(reply.get("error", "the llama.cpp worker sent an unreadable reply"))
            finally:
                if not finished and self.alive:  # abandoned or cancelled: stop the worker, then drain
                    self._write({"op": "cancel"})
                    while "done" not in self._read():
                        pass

    def close(self) -> None:
        """End the worker: EOF first (it exits at once between requests), then signals."""
        if self.child.poll() is None:
            try:
                self.child.stdin.close()
            except OSError:
                pass
            try:
                self.child.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.child.terminate()
                try:
                    self.child.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    self.child.kill()
                    self.child.wait()
