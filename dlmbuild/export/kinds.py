"""The table of export kinds: every place that names them (the build rules, ``dlm export``,
the document schema) reads this table, so a new runtime is one row here plus its build action.

A *bundle* is a folder installed under ``<store>/exports/<kind>/`` (or ``--out``) and built by
the ``:export-<kind>`` target; ``source`` says what it is made from:

- ``gguf``: the merged, quantized GGUF (``:gguf-<quant>``),
- ``merge``: the merged Hugging Face folder (``:merge``),
- ``adapter``: the trained adapters (``:train-<adapter>``), mixed when asked.

``dlm export`` also takes the bare GGUF targets, which stay in the action cache and install no
folder. This module imports nothing from dlm, so the lowest layers may read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class BundleKind:
    name: str  # the word after ":export-" and under exports/
    source: Literal["gguf", "merge", "adapter"]
    description: str  # shown by `dlm graph`


BUNDLES: tuple[BundleKind, ...] = (
    BundleKind("ollama", "gguf", "Ollama Modelfile bundle"),
    BundleKind("llama-server", "gguf", "llama-server bundle"),
    BundleKind("vllm", "merge", "vLLM bundle (merged HF folder)"),
    BundleKind("mlx-serve", "adapter", "mlx-lm server bundle"),
    BundleKind("hf", "adapter", "HF snapshot (PEFT adapter)"),
)
BUNDLE_KINDS: tuple[str, ...] = tuple(k.name for k in BUNDLES)

# `dlm export --target` values that are not bundles, and the build target each one runs
GGUF_TARGETS: dict[str, str] = {"gguf": ":gguf", "gguf-lora": ":gguf-lora"}

EXPORT_TARGETS: tuple[str, ...] = BUNDLE_KINDS + tuple(GGUF_TARGETS)


def build_target(kind: str) -> str:
    """The engine target ``dlm export --target kind`` builds."""
    return GGUF_TARGETS.get(kind, f":export-{kind}")


def is_bundle(kind: str) -> bool:
    """Whether ``kind`` installs a folder (and so takes ``--out``)."""
    return kind in BUNDLE_KINDS
