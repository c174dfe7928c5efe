"""Training the gate: a two-layer MLP from standardised embeddings to adapter logits.

Small on purpose: the document gives tens to hundreds of rows, and the gate must be kilobytes,
train in seconds and be byte-identical from the same rows and seed. Full-batch Adam on one CPU
thread with a seeded initialisation is deterministic; the loss is cross-entropy against soft
labels (a shared row spreads its mass over its adapters), each row weighted so every adapter
counts equally however many rows it has: a lane with five questions is not drowned by one with
five hundred passages.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WEIGHT_DECAY = 1e-2
STD_FLOOR = 1e-6


@dataclass
class GateWeights:
    """Everything the router needs, as float32 numpy arrays (``router`` runs them without torch)."""

    mean: np.ndarray  # [d]
    std: np.ndarray  # [d]
    w1: np.ndarray  # [h, d]
    b1: np.ndarray  # [h]
    w2: np.ndarray  # [n, h]
    b2: np.ndarray  # [n]

    def tensors(self) -> dict[str, np.ndarray]:
        return {k: np.ascontiguousarray(getattr(self, k), dtype=np.float32) for k in ("mean", "std", "w1", "b1", "w2", "b2")}

    def logits(self, features: np.ndarray) -> np.ndarray:
        """[rows, d] features -> [rows, n] logits (numpy, float32)."""
        x = (np.asarray(features, dtype=np.float32) - self.mean) / self.std
        hidden = np.maximum(x @ self.w1.T + self.b1, 0.0)
        return hidden @ self.w2.T + self.b2


@dataclass(frozen=True)
class FitReport:
    held_in_accuracy: float  # on rows with one adapter: argmax == that adapter
    loss: float
    rows: int


def soft_labels(labels: list[tuple[str, ...]], names: list[str]) -> np.ndarray:
    """[rows, n]: each row's mass spread evenly over its adapters."""
    out = np.zeros((len(labels), len(names)), dtype=np.float32)
    for i, row in enumerate(labels):
        for name in row:
            out[i, names.index(name)] = 1.0 / len(row)
    return out


def balance(targets: np.ndarray) -> np.ndarray:
    """Per-row weights that give each adapter the same total, then normalised to mean 1."""
    per_adapter = targets.sum(axis=0)
    per_adapter[per_adapter == 0] = 1.0
    weights = (targets / per_adapter).sum(axis=1)
    return (weights / weights.mean()).astype(np.float32)


def fit(features: np.ndarray, labels: list[tuple[str, ...]], names: list[str], *, hidden_size: int, steps: int,
        learning_rate: float, seed: int) -> tuple[GateWeights, FitReport]:
    """Train the gate on [rows, d] ``features`` labelled by adapter names."""
    import torch

    features = np.asarray(features, dtype=np.float32)
    mean = features.mean(axis=0)
    std = np.maximum(features.std(axis=0), STD_FLOOR)
    targets = soft_labels(labels, names)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one reduction order, so the same rows give the same bytes anywhere
    try:
        generator = torch.Generator().manual_seed(seed)
        x = torch.from_numpy((features - mean) / std)
        y = torch.from_numpy(targets)
        w = torch.from_numpy(balance(targets))
        first = torch.nn.Linear(x.shape[1], hidden_size)
        second = torch.nn.Linear(hidden_size, len(names))
        for layer in (first, second):
            bound = 1.0 / layer.in_features ** 0.5
            with torch.no_grad():
                layer.weight.uniform_(-bound, bound, generator=generator)
                layer.bias.zero_()
        params = [*first.parameters(), *second.parameters()]
        optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=WEIGHT_DECAY)
        loss = torch.tensor(0.0)
        for _ in range(steps):
            logits = second(torch.relu(first(x)))
            loss = (-(y * torch.log_softmax(logits, dim=-1)).sum(dim=-1) * w).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        weights = GateWeights(mean=mean, std=std, w1=first.weight.detach().numpy().copy(), b1=first.bias.detach().numpy().copy(),
                              w2=second.weight.detach().numpy().copy(), b2=second.bias.detach().numpy().copy())
    finally:
        torch.set_num_threads(previous_threads)
    return weights, FitReport(held_in_accuracy=accuracy(weights, features, labels, names), loss=float(loss.detach()), rows=len(labels))


def accuracy(weights: GateWeights, features: np.ndarray, labels: list[tuple[str, ...]], names: list[str]) -> float:
    """Share of single-adapter rows whose heaviest logit is their adapter (shared rows have no
    one right answer); 1.0 when there are none."""
    single = [(i, row[0]) for i, row in enumerate(labels) if len(row) == 1]
    if not single:
        return 1.0
    predicted = weights.logits(np.asarray(features, dtype=np.float32)[[i for i, _ in single]]).argmax(axis=1)
    return float(np.mean([names[p] == name for p, (_, name) in zip(predicted, single)]))
