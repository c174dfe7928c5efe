"""The preference losses, DPO and ORPO, on per-answer log-probabilities.

A preference pair is two sequences sharing a prompt: prompt+chosen and prompt+rejected. What the
losses need of each is the log-probability the model gives the answer's tokens after the prompt:
``answer_logps`` computes it for a batch of sequences (right-padded, one forward), sending only
the answer positions through the output head, so no ``[tokens, vocab]`` tensor of the whole batch
exists.

- DPO (Rafailov et al. 2023): ``-log σ(β · ((π_c − ref_c) − (π_r − ref_r)))`` with π and ref
  the summed answer log-probabilities of the policy and of the frozen reference. At the start,
  policy = reference and the loss is exactly ln 2.
- ORPO (Hong et al. 2024): ``NLL_c − β · log σ(log odds_c − log odds_r)``, where the odds use
  the length-averaged log-probabilities ℓ (``odds = p / (1 − p)`` with ``p = exp ℓ``) and
  ``NLL_c`` is the mean cross entropy over the chosen answer's tokens. TRL's ORPOTrainer also
  counts the prompt in its NLL; dlm trains only on answers, as its supervised phase does.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AnswerBatch:
    """Sequences and where each one's answer starts (``answer_starts[i]``: the index of row i's
    first answer token)."""

    rows: list[list[int]]
    answer_starts: list[int]


def pair_batch(pairs: list[dict]) -> AnswerBatch:
    """Rows ``[prompt+chosen_0, prompt+rejected_0, prompt+chosen_1, ...]`` of tokenized triples
    (``prompt_ids``, ``chosen_ids``, ``rejected_ids``)."""
    rows, starts = [], []
    for pair in pairs:
        for answer in (pair["chosen_ids"], pair["rejected_ids"]):
            rows.append(pair["prompt_ids"] + answer)
            starts.append(len(pair["prompt_ids"]))
    return AnswerBatch(rows, starts)


def answer_logps(model, batch: AnswerBatch, pad_id: int, device: str = "cpu"):
    """(summed, count) per row: the log-probability of each row's answer tokens, and how many
    there are. Float32 tensors of shape [rows]."""
    import torch

    from dlmbuild.train.chunked_loss import _parts

    width = max(len(r) for r in batch.rows)
    ids = torch.full((len(batch.rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch.rows), width), dtype=torch.long)
    for i, row in enumerate(batch.rows):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    ids, mask = ids.to(device), mask.to(device)
    # (row, position predicting the target, target token) for every answer token
    where_row, where_pos, targets = [], [], []
    for i, (row, start) in enumerate(zip(batch.rows, batch.answer_starts, strict=True)):
        for p in range(max(1, start), len(row)):
            where_row.append(i)
            where_pos.append(p - 1)
            targets.append(row[p])
    where_row_t = torch.tensor(where_row, device=device)
    where_pos_t = torch.tensor(where_pos, device=device)
    target_t = torch.tensor(targets, device=device)
    parts = _parts(model)
    if parts is None:
        logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits[where_row_t, where_pos_t].float()
    else:
        decoder, head = parts
        hidden = decoder(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state
        logits = head(hidden[where_row_t, where_pos_t]).float()
    picked = torch.log_softmax(logits, dim=-1).gather(1, target_t.unsqueeze(1)).squeeze(1)
    summed = torch.zeros(len(batch.rows), dtype=torch.float32, device=device).index_add(0, where_row_t, picked)
    count = torch.zeros(len(batch.rows), dtype=torch.float32, device=device).index_add(
        0, where_row_t, torch.ones_like(picked))
    return summed, count


def dpo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta: float):
    """Mean DPO loss over pairs, and the mean reward margin (β times the log-ratio difference)."""
    import torch

    margin = beta * ((policy_chosen - ref_chosen) - (policy_rejected - ref_rejected))
    return -torch.nn.functional.logsigmoid(margin).mean(), margin.detach().mean()


def log1mexp(x):
    """``log(1 − exp(x))`` for x < 0, computed stably on both sides of −ln 2."""
    import math

    import torch

    return torch.where(x < -math.log(2), torch.log1p(-torch.exp(x)), torch.log(-torch.expm1(x)))


def orpo_loss(chosen_sum, chosen_count, rejected_sum, rejected_count, beta: float):
    """Mean ORPO loss over pairs, and the mean log odds ratio."""
    import torch

    mean_c = chosen_sum / chosen_count.clamp(min=1)
    mean_r = rejected_sum / rejected_count.clamp(min=1)
    mean_c, mean_r = mean_c.clamp(max=-1e-6), mean_r.clamp(max=-1e-6)  # p < 1, so the odds stay finite
    log_odds = (mean_c - mean_r) - (log1mexp(mean_c) - log1mexp(mean_r))
    nll = -mean_c
    return (nll - beta * torch.nn.functional.logsigmoid(log_odds)).mean(), log_odds.detach().mean()
