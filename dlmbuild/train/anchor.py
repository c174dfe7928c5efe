"""The anchor: general English the adapter must not change the base's predictions on.

Training hard on a small document drifts the whole model: on the tutor example, loss on general
text the adapter never saw rose by 39 % (benchmarks/quality.py). Rehearsing text with hard labels
did not help (+40 %); what does is a KL penalty: each optimizer step also runs one block of this
text through the model twice, with the adapter (with gradient) and without it (the base, no
gradient), and adds ``weight * KL(base || adapted)`` to the loss. The base's own predictions are
the target, so any base works and nothing is downloaded. Measured at weight 1.0: general loss
+1.9 % instead of +39 %, trained recall unchanged at 100 %, about 30 % more time per step.

``anchor.txt`` is ten plain paragraphs on everyday subjects, written for dlm (no programming
text, so the Python-documentation text that quality.py evaluates on stays unseen).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from dlmbuild.train.packing import Block, pack


@lru_cache(maxsize=1)
def anchor_text() -> str:
    return resources.files("dlmbuild.train").joinpath("anchor.txt").read_text(encoding="utf-8")


def anchor_hash() -> str:
    import xxhash

    return xxhash.xxh3_128_hexdigest(anchor_text().encode())


def anchor_blocks(tokenizer, seq_len: int) -> list[Block]:
    """The anchor paragraphs tokenized and packed (each paragraph its own row, as in training)."""
    rows = []
    for paragraph in anchor_text().split("\n\n"):
        ids = tokenizer.encode(paragraph.strip())
        for start in range(0, len(ids), seq_len):
            rows.append({"input_ids": ids[start : start + seq_len]})
    return pack(rows, seq_len)
