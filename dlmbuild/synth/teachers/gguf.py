"""``gguf:<path>``: a local GGUF model as teacher, run by llama.cpp in a child process.

llama.cpp can die of a signal (a bad kernel, a malformed file), so every call goes through
``dlmbuild.export.native.run_isolated``: a crash is one line, never a dead ``dlm``. Starting a
child and loading the model costs seconds, so ``complete_many`` answers a whole batch in one
child; ``complete`` is a batch of one.

Every request of a batch is sampled with the same ``Sampling`` (seed included) from an empty
context, so a reply is the same whether it was asked alone or in a batch. The path is checked
when the teacher is built (UsageError), before any child starts.
"""

from __future__ import annotations

import os
from pathlib import Path

from dlmbuild.errors import UsageError
from dlmbuild.infer.generate import Sampling
from dlmbuild.synth.teacher_spec import TeacherSpec

DEFAULT_N_CTX = 4096
GGUF_MAGIC = b"GGUF"


class GgufTeacher:
    """``GgufTeacher(TeacherSpec("gguf", path), n_ctx=4096, threads=None, timeout=None)``.

    ``threads`` defaults to ``DLM_THREADS`` when set, else llama.cpp's own choice; ``timeout``
    (seconds, per batch) kills a child that runs longer (EnvironmentProblem)."""

    def __init__(self, spec: TeacherSpec, *, n_ctx: int = DEFAULT_N_CTX, threads: int | None = None,
                 timeout: float | None = None):
        if spec.scheme != "gguf":
            raise UsageError(f"teacher {spec.label} is not a GGUF teacher")
        path = Path(spec.target).expanduser()
        if not path.is_file():
            raise UsageError(f"teacher gguf:{spec.target}: no such file {path}")
        with open(path, "rb") as f:
            if f.read(4) != GGUF_MAGIC:
                raise UsageError(f"teacher gguf:{spec.target}: {path} is not a GGUF file")
        self.label = spec.label
        self.path = path.resolve()
        self.n_ctx = n_ctx
        self.threads = threads or int(os.environ.get("DLM_THREADS", "0") or 0) or None
        self.timeout = timeout

    def complete_many(self, requests: list[tuple[str, str]], sampling: Sampling) -> list[str]:
        """The replies to ``[(system, user), ...]``, in order, from one child process."""
        if not requests:
            return []
        from dlmbuild.export.native import run_isolated

        count = f"{len(requests)} prompt" + ("" if len(requests) == 1 else "s")
        replies = run_isolated(
            "dlmbuild.synth.teachers.gguf_worker:complete_batch",
            {"model_path": str(self.path), "requests": [[system, user] for system, user in requests],
             "max_tokens": sampling.max_new_tokens, "temperature": sampling.temperature,
             "top_p": sampling.top_p, "seed": sampling.seed, "n_ctx": self.n_ctx, "n_threads": self.threads},
            doing=f"answering {count} with teacher {self.label}", timeout=self.timeout)
        return [str(reply) for reply in replies]

    def complete(self, system: str, user: str, sampling: Sampling) -> str:
        return self.complete_many([(system, user)], sampling)[0]

    def close(self) -> None:
        """Nothing to release: each batch's child exits when it is done."""
