"""The reproduction check that ends training: which rows are answers, where each packed row
starts, a verdict that equals greedy decoding's, and training that stops once every answer is
reproduced, deterministically."""

from __future__ import annotations

import pytest

from dlmbuild.train.plan import TrainPlan
from dlmbuild.train.recipe import due_for_check
from dlmbuild.train.reproduce import answer_blocks, answer_rows, count_reproduced
from tests.train.test_recipe import PAD, base, base_dir, make_plan, train  # noqa: F401  (fixtures)

ROWS = [
    {"input_ids": [5, 6, 7, 8, 9, 10], "loss_mask": [0, 0, 0, 1, 1, 1]},  # Q/A: prompt 3, answer 3
    {"input_ids": [11, 12, 13, 14]},                                        # prose: no mask
    {"input_ids": [15, 16, 17, 18, 19], "loss_mask": [0, 0, 1, 1, 1]},
    {"input_ids": [20, 21], "loss_mask": [0, 0]},                           # nothing to check
]


def test_answer_rows_are_the_partly_masked_rows():
    assert answer_rows(ROWS) == [ROWS[0], ROWS[2]]


def test_answer_blocks_record_where_each_row_starts():
    [item] = answer_blocks(ROWS, seq_len=16)
    assert item.starts == (0, 6)  # longest first, as training packs
    assert item.block.input_ids == [5, 6, 7, 8, 9, 10, 15, 16, 17, 18, 19]


def greedy(model, prompt: list[int], n: int) -> list[int]:
    import torch

    ids = list(prompt)
    with torch.no_grad():
        for _ in range(n):
            ids.append(int(model(input_ids=torch.tensor([ids])).logits[0, -1].argmax()))
    return ids[len(prompt):]


def test_the_verdict_is_what_greedy_decoding_says(base):  # noqa: F811
    rows = [{"input_ids": [3, 4, 5] + greedy(base, [3, 4, 5], 3), "loss_mask": [0, 0, 0, 1, 1, 1]},  # what it says
            {"input_ids": [6, 7, 8, 9], "loss_mask": [0, 0, 1, 1]}]
    rows[1]["input_ids"][2:] = [t for t in range(3, 30) if t != greedy(base, [6, 7], 1)[0]][:2]  # not what it says
    assert count_reproduced(base, answer_blocks(rows, 16), PAD) == (1, 2)


def test_checks_fall_on_the_floor_then_every_epoch_and_the_last_step():
    plan = make_plan(steps=20, check_from=8, steps_per_epoch=3)
    assert [s for s in range(1, 21) if due_for_check(plan, s)] == [8, 11, 14, 17, 20]
    assert not any(due_for_check(make_plan(steps=20), s) for s in range(1, 21))


@pytest.fixture
def memorise():
    rows = [{"input_ids": [3 + i, 4 + i, 10 + i, 20 + i, 2], "loss_mask": [0, 0, 1, 1, 1]} for i in range(3)]
    from dlmbuild.train.packing import pack

    return rows, pack(rows, 16)


def test_training_stops_once_every_answer_is_reproduced(base, tmp_path, memorise):  # noqa: F811
    rows, blocks = memorise
    plan: TrainPlan = make_plan(steps=200, check_from=5, steps_per_epoch=1, micro_batch=4, learning_rate=2e-2,
                                scheduler="constant")
    checks = []
    _out, result, reports = train(base, tmp_path, plan, blocks=blocks, answers=answer_blocks(rows, 16),
                                  on_check=lambda *verdict: checks.append(verdict))
    steps, (done, total) = result["steps"], result["reproduced"]
    assert (done, total) == (3, 3) and 5 <= steps < 200 and len(reports) == steps
    assert checks[-1] == (steps, 3, 3) and all(d < t for _s, d, t in checks[:-1])
    assert result["budget_steps"] == 200
    again = train(base, tmp_path, plan, blocks=blocks, answers=answer_blocks(rows, 16), name="again")[1]
    assert again["steps"] == steps  # the same stop, deterministically
    assert (tmp_path / "out" / "adapter_model.safetensors").read_bytes() == (tmp_path / "again" / "adapter_model.safetensors").read_bytes()


def test_past_the_floor_the_rate_decays_again_from_half_the_peak():
    from dlmbuild.train.recipe import lr_factor

    plan = make_plan(steps=30, check_from=10, steps_per_epoch=1, scheduler="cosine", warmup_steps=0)
    floor_only = make_plan(steps=10, scheduler="cosine", warmup_steps=0)
    assert [lr_factor(plan, s) for s in range(10)] == [lr_factor(floor_only, s) for s in range(10)]
    assert lr_factor(plan, 10) == 0.5 and lr_factor(plan, 20) == pytest.approx(0.25) and lr_factor(plan, 30) == 0.0
