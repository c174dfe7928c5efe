"""Packing training rows into ``sequence_len`` blocks, with no row attending to another.

Rows are placed first-fit-decreasing (stable, so the same rows always give the same blocks),
which leaves almost no padding. Each row restarts its ``position_ids`` at 0; transformers reads
that restart, when no attention mask is passed, as a packed-sequence boundary and builds a
block-diagonal causal mask (eager and SDPA alike), so packed rows are as independent as if they
were batched one by one. ``tests/train/test_packing.py`` checks that equality on a tiny model.

Labels are the input ids where the row's loss mask is 1 and -100 elsewhere; the first token of
every row is always -100, because the token before it belongs to a different row.
"""

from __future__ import annotations

from dataclasses import dataclass, field

IGNORE = -100


@dataclass
class Block:
    """One packed sequence: concatenated rows and their labels and restarting positions."""

    input_ids: list[int] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    position_ids: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def trained_tokens(self) -> int:
        return sum(1 for label in self.labels if label != IGNORE)


def row_labels(row: dict) -> list[int]:
    """Labels for one row: its ids under its loss mask (all ones for prose)."""
    ids = row["input_ids"]
    mask = row.get("loss_mask") or [1] * len(ids)
    labels = [tok if keep else IGNORE for tok, keep in zip(ids, mask, strict=True)]
    if labels:
        labels[0] = IGNORE
    return labels


def pack(rows: list[dict], seq_len: int) -> list[Block]:
    """First-fit-decreasing packing of rows (each at most ``seq_len`` tokens) into blocks."""
    order = sorted(range(len(rows)), key=lambda i: (-len(rows[i]["input_ids"]), i))
    blocks: list[Block] = []
    room: list[int] = []
    for index in order:
        row = rows[index]
        n = len(row["input_ids"])
        if n == 0:
            continue
        if n > seq_len:
            raise ValueError(f"row of {n} tokens exceeds sequence_len {seq_len}")
        slot = next((b for b, free in enumerate(room) if free >= n), None)
        if slot is None:
            blocks.append(Block())
            room.append(seq_len)
            slot = len(blocks) - 1
        block = blocks[slot]
        block.input_ids += row["input_ids"]
        block.labels += row_labels(row)
        block.position_ids += list(range(n))
        room[slot] -= n
    return blocks


def collate(blocks: list[Block], pad_id: int):
    """Tensors for a micro-batch: blocks right-padded to the longest; padding is its own
    segment (positions restart at 0) and carries no loss."""
    import torch

    width = max(len(b) for b in blocks)
    ids, labels, positions = [], [], []
    for block in blocks:
        pad = width - len(block)
        ids.append(block.input_ids + [pad_id] * pad)
        labels.append(block.labels + [IGNORE] * pad)
        positions.append(block.position_ids + list(range(pad)))
    return {
        "input_ids": torch.tensor(ids, dtype=torch.long),
        "labels": torch.tensor(labels, dtype=torch.long),
        "position_ids": torch.tensor(positions, dtype=torch.long),
    }
