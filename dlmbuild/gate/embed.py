"""Prompt embeddings for the gate: the feature model's last hidden state (the base cut after
``FEATURE_LAYERS`` blocks, see ``feature_model``), normed and mean-pooled by llama.cpp.

One function of one text, used everywhere the gate runs (``:gate`` training, ``dlm prompt``,
the serve worker), so a prompt gets the same features at training and at use. Texts are embedded
one at a time: a batch of several sequences is not guaranteed the same floats as each alone,
and use-time embeds one prompt. llama.cpp runs in an isolated child from the build and the CLI
(a native crash is one line, as for every export); the serve worker holds its own ``Embedder``.
"""

from __future__ import annotations

from pathlib import Path

N_CTX = 512  # prompts longer than this are cut: a lane shows in the first few hundred tokens
FEATURE_KIND = "llama.cpp: normed hidden state after the base's first blocks (features.F16.gguf), mean-pooled"


class Embedder:
    """The feature model loaded for embeddings (mean pooling), in the calling process."""

    def __init__(self, gguf: str | Path, n_threads: int | None = None):
        import llama_cpp

        options = {"n_threads": n_threads} if n_threads else {}
        self.llm = llama_cpp.Llama(model_path=str(gguf), embedding=True, pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN,
                                   n_ctx=N_CTX, n_batch=N_CTX, n_ubatch=N_CTX, verbose=False, **options)

    def __call__(self, text: str) -> list[float]:
        """One text's embedding; llama.cpp clears its cache per call and cuts at ``N_CTX`` tokens."""
        return [float(x) for x in self.llm.embed(text, truncate=True)]

    def close(self) -> None:
        self.llm.close()


def embed_texts(gguf: str, texts: list[str], n_threads: int | None = None) -> list[list[float]]:
    """Child side (``run_isolated``): every text's embedding, in order."""
    embedder = Embedder(gguf, n_threads)
    try:
        return [embedder(text) for text in texts]
    finally:
        embedder.close()


def embed(gguf: Path, texts: list[str], *, doing: str, cancel=None) -> list[list[float]]:
    """The embeddings of ``texts`` from an isolated llama.cpp child."""
    from dlmbuild.export.native import run_isolated

    return run_isolated("dlmbuild.gate.embed:embed_texts", {"gguf": str(gguf), "texts": list(texts), "n_threads": threads()},
                        doing=doing, cancel=cancel)


def threads() -> int:
    import os

    return max(1, min(4, os.cpu_count() or 1))
