"""Does the adapter reproduce the document's own answers? The check that ends training.

Teacher-forced exact match: each Q/A row (prompt tokens unlabelled, answer tokens and the
end-of-turn token labelled) is run through the model once, and the row counts as reproduced
when the model's top choice at every labelled position is the labelled token. That is exactly
the condition under which greedy decoding of the rendered question yields the answer and then
stops, so it measures what ``dlm prompt --temp 0`` will say, at the cost of one forward pass
per packed block instead of one per generated token.

The check runs in float32 with dropout off (eval mode), like prompting does, whatever precision
training uses, so a bf16-only lucky argmax does not count. It is deterministic on CPU: same rows,
same weights, same verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

from dlmbuild.train.packing import IGNORE, Block, pack


@dataclass(frozen=True)
class AnswerBlock:
    """Packed answer rows and where each row starts (rows restart their positions at 0)."""

    block: Block
    starts: tuple[int, ...]


def answer_rows(rows: list[dict]) -> list[dict]:
    """The Q/A rows: those whose loss mask leaves part of the row (the prompt) untrained."""
    return [row for row in rows if row.get("loss_mask") and 0 in row["loss_mask"] and 1 in row["loss_mask"]]


def answer_blocks(rows: list[dict], seq_len: int) -> list[AnswerBlock]:
    """Answer rows packed as training packs them, with each row's start offset."""
    out = []
    for block in pack(answer_rows(rows), seq_len):
        starts = tuple(i for i, position in enumerate(block.position_ids) if position == 0)
        out.append(AnswerBlock(block, starts))
    return out


def count_reproduced(model, blocks: list[AnswerBlock], pad_id: int, device: str = "cpu") -> tuple[int, int]:
    """(rows reproduced, rows checked) for ``model`` as it is now; leaves its train/eval mode."""
    import torch

    from dlmbuild.train.packing import collate

    was_training = model.training
    model.eval()
    reproduced = total = 0
    try:
        with torch.no_grad():
            for item in blocks:
                batch = {k: v.to(device) for k, v in collate([item.block], pad_id).items()}
                logits = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits
                predicted = logits[0, :-1].float().argmax(-1).tolist()
                labels = item.block.labels
                bounds = (*item.starts, len(labels))
                for start, end in zip(bounds, bounds[1:]):
                    total += 1
                    if all(predicted[p - 1] == labels[p] for p in range(start + 1, end) if labels[p] != IGNORE):
                        reproduced += 1
    finally:
        model.train(was_training)
    return reproduced, total
