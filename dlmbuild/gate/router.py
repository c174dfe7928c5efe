"""The trained gate at use: load it with numpy, and turn a prompt's embedding into weights.

``dlm prompt``, ``dlm repl`` and ``dlm serve`` (and an exported bundle's launcher) all route
through ``Gate.route``, so the same prompt gets the same adapters everywhere. No torch: the
serve front and the bundle stay light.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dlmbuild.errors import DlmError
from dlmbuild.gate.fit import GateWeights

WEIGHTS_FILE = "gate.safetensors"
SUMMARY_FILE = "dlm-gate.json"
FORMAT = 1


@dataclass(frozen=True)
class Routing:
    """``training.gate``'s use-time settings (see ``GateConfig``)."""

    temperature: float = 1.0
    top_k: int = 1
    fallback: str | None = None
    min_confidence: float = 0.0

    @classmethod
    def from_dict(cls, data: dict) -> Routing:
        return cls(**{k: data[k] for k in ("temperature", "top_k", "fallback", "min_confidence") if k in data})


@dataclass(frozen=True)
class Gate:
    adapters: tuple[str, ...]
    weights: GateWeights
    summary: dict

    @classmethod
    def load(cls, folder: Path) -> Gate:
        from safetensors.numpy import load_file

        try:
            summary = json.loads((folder / SUMMARY_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DlmError(f"cannot read the gate in {folder}: {exc}") from None
        if summary.get("format") != FORMAT:
            raise DlmError(f"the gate in {folder} has format {summary.get('format')}; this dlm reads {FORMAT} (rebuild :gate)")
        try:
            return cls(tuple(summary["adapters"]), GateWeights(**load_file(str(folder / WEIGHTS_FILE))), summary)
        except Exception as exc:  # safetensors' own error, a missing tensor or key: a damaged gate
            raise DlmError(f"cannot read the gate in {folder}: {' '.join(str(exc).split()) or type(exc).__name__}") from None

    def probabilities(self, feature, temperature: float = 1.0) -> np.ndarray:
        logits = self.weights.logits(np.asarray(feature, dtype=np.float32)[None, :])[0] / temperature
        logits = logits - logits.max()
        exp = np.exp(logits)
        return exp / exp.sum()

    def route(self, feature, routing: Routing) -> dict[str, float]:
        """The weight of each adapter for one prompt: softmax at ``temperature``, the ``top_k``
        heaviest renormalised to sum to 1, or the ``fallback`` alone when the heaviest is below
        ``min_confidence``. Adapters left out are not in the result."""
        probs = self.probabilities(feature, routing.temperature)
        order = sorted(range(len(probs)), key=lambda i: (-probs[i], i))
        if routing.fallback is not None and probs[order[0]] < routing.min_confidence:
            return {routing.fallback: 1.0}
        kept = order[: routing.top_k]
        total = float(sum(probs[i] for i in kept))
        return {self.adapters[i]: round(float(probs[i]) / total, 6) for i in kept}


def save(folder: Path, adapters: list[str], weights: GateWeights, summary: dict) -> None:
    """Write the gate: tensors in safetensors (sorted, so bytes are stable), the summary as JSON."""
    from safetensors.numpy import save_file

    save_file(weights.tensors(), str(folder / WEIGHTS_FILE))
    data = {"format": FORMAT, "adapters": list(adapters), **summary}
    (folder / SUMMARY_FILE).write_text(json.dumps(data, sort_keys=True, indent=1) + "\n", encoding="utf-8")


def describe(weights: dict[str, float]) -> str:
    """``knowledge 0.93, tone 0.07``: weights as ``-v`` prints them."""
    return ", ".join(f"{name} {value:.2f}" for name, value in sorted(weights.items(), key=lambda kv: -kv[1]))
