"""The preference losses by hand: answer log-probabilities against a whole-logits computation,
DPO at the start (ln 2) and on one pair, ORPO's odds ratio, and the fallback without chunking."""

from __future__ import annotations

import math

import pytest

from dlmbuild.train.preference_loss import AnswerBatch, answer_logps, dpo_loss, log1mexp, orpo_loss, pair_batch
from tests.train.test_recipe import PAD, base, base_dir  # noqa: F401  (fixtures)

torch = pytest.importorskip("torch")

PAIR = {"prompt_ids": [5, 6, 7], "chosen_ids": [8, 9, 2], "rejected_ids": [10, 11, 12, 2]}


def by_hand(model, row: list[int], start: int) -> float:
    logits = model(input_ids=torch.tensor([row])).logits[0].float()
    logp = torch.log_softmax(logits, dim=-1)
    return float(sum(logp[p - 1, row[p]] for p in range(start, len(row))))


def test_answer_logps_match_a_whole_logits_computation(base):  # noqa: F811
    batch = pair_batch([PAIR])
    with torch.no_grad():
        summed, count = answer_logps(base, batch, PAD)
        expected = [by_hand(base, row, start) for row, start in zip(batch.rows, batch.answer_starts)]
    assert count.tolist() == [3.0, 4.0]
    assert summed.tolist() == pytest.approx(expected, abs=1e-5)


def test_padding_does_not_change_a_row(base):  # noqa: F811
    short = AnswerBatch([[5, 6, 8, 9]], [2])
    padded = AnswerBatch([[5, 6, 8, 9], [5, 6, 7, 8, 9, 10, 11, 12]], [2, 3])
    with torch.no_grad():
        alone = answer_logps(base, short, PAD)[0][0]
        together = answer_logps(base, padded, PAD)[0][0]
    assert float(alone) == pytest.approx(float(together), abs=1e-5)


def test_dpo_is_ln2_when_policy_is_reference_and_matches_the_formula():
    c, r = torch.tensor([-3.0]), torch.tensor([-5.0])
    loss, margin = dpo_loss(c, r, c, r, beta=0.1)
    assert float(loss) == pytest.approx(math.log(2)) and float(margin) == 0.0
    loss, margin = dpo_loss(torch.tensor([-2.0]), torch.tensor([-6.0]), c, r, beta=0.5)
    z = 0.5 * ((-2.0 + 3.0) - (-6.0 + 5.0))  # 0.5 * (1 + 1) = 1
    assert float(margin) == pytest.approx(z)
    assert float(loss) == pytest.approx(-math.log(1 / (1 + math.exp(-z))))


def test_orpo_odds_ratio_by_hand():
    c_sum, c_n, r_sum, r_n = torch.tensor([-2.0]), torch.tensor([4.0]), torch.tensor([-6.0]), torch.tensor([3.0])
    loss, log_odds = orpo_loss(c_sum, c_n, r_sum, r_n, beta=0.1)
    pc, pr = math.exp(-0.5), math.exp(-2.0)
    expected_odds = math.log(pc / (1 - pc)) - math.log(pr / (1 - pr))
    assert float(log_odds) == pytest.approx(expected_odds, abs=1e-6)
    assert float(loss) == pytest.approx(0.5 - 0.1 * math.log(1 / (1 + math.exp(-expected_odds))), abs=1e-6)
    x = torch.tensor([-1e-4, -0.3, -0.7, -5.0])
    assert log1mexp(x).tolist() == pytest.approx([math.log(1 - math.exp(v)) for v in x.tolist()], rel=1e-5)
