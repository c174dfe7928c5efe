"""dlmbuild.gate.fit: the gate's MLP, trained on synthetic embeddings.

The gate must learn what a lane looks like, give each adapter equal say however many rows it has,
and be byte-identical from the same rows and seed (its output is a cached build artefact)."""

from __future__ import annotations

import numpy as np
import pytest

from dlmbuild.gate.fit import GateWeights, accuracy, balance, fit, soft_labels

torch = pytest.importorskip("torch")

NAMES = ["knowledge", "tone"]


def clusters(per: tuple[int, int] = (12, 12), dim: int = 16, seed: int = 0):
    """Two well separated clusters (one per adapter), as embeddings of two lanes would be."""
    rng = np.random.default_rng(seed)
    centre = rng.normal(size=dim).astype(np.float32) * 3
    rows = [centre + rng.normal(size=(per[0], dim)), -centre + rng.normal(size=(per[1], dim))]
    labels = [("knowledge",)] * per[0] + [("tone",)] * per[1]
    return np.concatenate(rows).astype(np.float32), labels, centre


def train(features, labels, seed=7, **kw):
    return fit(features, labels, NAMES, hidden_size=kw.get("hidden_size", 8), steps=kw.get("steps", 60),
               learning_rate=kw.get("learning_rate", 0.05), seed=seed)


def probs(weights: GateWeights, features) -> np.ndarray:
    logits = weights.logits(np.asarray(features, dtype=np.float32))
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


# -- labels and balance -------------------------------------------------------------------------

def test_soft_labels_spread_a_shared_row_evenly_over_its_adapters():
    got = soft_labels([("tone",), ("knowledge", "tone"), ("knowledge",)], NAMES)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, [[0, 1], [0.5, 0.5], [1, 0]])


def test_balance_gives_every_adapter_the_same_total_weight():
    """Five hundred passages of one lane must not drown five questions of another."""
    targets = soft_labels([("knowledge",)] * 8 + [("tone",)] * 2, NAMES)
    weights = balance(targets)
    per_adapter = (targets * weights[:, None]).sum(axis=0)
    assert per_adapter[0] == pytest.approx(per_adapter[1])
    assert weights.mean() == pytest.approx(1.0)
    assert weights[-1] == pytest.approx(4 * weights[0])  # the rare lane's rows weigh more


def test_balance_survives_an_adapter_with_no_rows():
    weights = balance(soft_labels([("knowledge",)] * 3, ["knowledge", "tone"]))
    assert np.all(np.isfinite(weights)) and weights == pytest.approx([1.0, 1.0, 1.0])


def test_accuracy_counts_only_rows_with_one_adapter():
    """A shared row has no single right answer, so it neither helps nor hurts."""
    w = GateWeights(mean=np.zeros(2, np.float32), std=np.ones(2, np.float32), w1=np.eye(2, dtype=np.float32),
                    b1=np.zeros(2, np.float32), w2=np.eye(2, dtype=np.float32), b2=np.zeros(2, np.float32))
    features = np.array([[1, 0], [0, 1], [1, 0], [0, 1]], np.float32)  # logits = the feature itself
    labels = [("knowledge",), ("tone",), ("tone",), ("knowledge", "tone")]
    assert accuracy(w, features, labels, NAMES) == pytest.approx(2 / 3)
    assert accuracy(w, features[3:], labels[3:], NAMES) == 1.0


# -- fit ----------------------------------------------------------------------------------------

def test_fit_learns_separable_lanes_and_reports_them():
    features, labels, centre = clusters()
    weights, report = train(features, labels)
    assert report.held_in_accuracy == 1.0 and report.rows == len(labels) and report.loss < 0.3
    assert (weights.w1.shape, weights.b1.shape, weights.w2.shape, weights.b2.shape) == ((8, 16), (8,), (2, 8), (2,))
    assert all(t.dtype == np.float32 for t in weights.tensors().values())
    # unseen prompts near each lane's centre route to that lane
    rng = np.random.default_rng(99)
    unseen = np.stack([centre + rng.normal(size=16), -centre + rng.normal(size=16)]).astype(np.float32)
    assert list(weights.logits(unseen).argmax(axis=1)) == [0, 1]


def test_fit_is_byte_identical_from_the_same_rows_and_seed():
    """The gate is a cached artefact: the same document must give the same bytes."""
    features, labels, _ = clusters()
    first, report_a = train(features, labels, seed=3)
    second, report_b = train(features, labels, seed=3)
    for name, tensor in first.tensors().items():
        assert tensor.tobytes() == second.tensors()[name].tobytes(), name
    assert report_a == report_b
    other, _ = train(features, labels, seed=4)
    assert other.w1.tobytes() != first.w1.tobytes()


def test_fit_standardises_features_and_survives_a_constant_column():
    """A dimension with no spread must not divide by zero (std is floored)."""
    features, labels, _ = clusters()
    features[:, 0] = 5.0
    weights, report = train(features, labels)
    np.testing.assert_allclose(weights.mean, features.mean(axis=0), rtol=1e-6)
    assert weights.std[0] > 0 and np.all(np.isfinite(weights.logits(features)))
    assert report.held_in_accuracy == 1.0


def test_a_rare_lane_is_still_learned():
    features, labels, _ = clusters(per=(40, 3))
    _, report = train(features, labels)
    assert report.held_in_accuracy == 1.0


def test_row_counts_do_not_become_a_prior():
    """Where the rows say nothing (every feature alike), ten times more rows of one lane must not
    make the gate favour it: balancing gives 50/50 (unweighted, it would learn about 91/9)."""
    features = np.ones((44, 4), np.float32)
    weights, _ = train(features, [("knowledge",)] * 40 + [("tone",)] * 4, steps=100)
    assert probs(weights, features[:1])[0] == pytest.approx([0.5, 0.5], abs=0.01)


def test_shared_rows_teach_the_gate_to_mix():
    """Rows labelled with both adapters, between the lanes, get weight on both, not one."""
    features, labels, centre = clusters()
    rng = np.random.default_rng(5)
    shared = rng.normal(size=(12, 16)).astype(np.float32) * 0.5  # around the midpoint
    weights, _ = train(np.concatenate([features, shared]), labels + [("knowledge", "tone")] * 12, steps=120)
    middle = probs(weights, shared)
    ends = probs(weights, np.stack([centre, -centre]))
    assert np.all(middle.max(axis=1) < 0.75), middle  # without the shared rows, most of these exceed 0.9
    assert ends[0, 0] > 0.9 and ends[1, 1] > 0.9


def test_fit_restores_the_callers_torch_threads():
    """fit pins one thread for reproducible reductions; the caller's setting must come back."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        features, labels, _ = clusters(per=(3, 3), dim=4)
        train(features, labels, steps=2)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
