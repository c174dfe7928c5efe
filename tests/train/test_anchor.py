"""The built-in anchor text: packaged, stable, packed within sequence_len, and free of
programming text (benchmarks/quality.py measures general loss on Python documentation)."""

from __future__ import annotations

import re

from dlmbuild.train.anchor import anchor_blocks, anchor_hash, anchor_text


class _Words:
    """A whitespace tokenizer: one id per word."""

    def encode(self, text: str) -> list[int]:
        return [len(word) for word in text.split()]


def test_anchor_text_is_ten_plain_paragraphs():
    paragraphs = anchor_text().strip().split("\n\n")
    assert len(paragraphs) == 10
    assert all(60 <= len(p.split()) <= 120 for p in paragraphs)
    assert not re.search(r"\b(python|def|import|class|function|module|print)\b", anchor_text(), re.IGNORECASE)
    assert anchor_hash() == anchor_hash() and len(anchor_hash()) == 32


def test_anchor_blocks_split_long_paragraphs_and_fit_sequence_len():
    blocks = anchor_blocks(_Words(), 32)
    words = len(anchor_text().split())
    assert sum(len(b) for b in blocks) == words  # nothing dropped, nothing added
    assert all(len(b) <= 32 for b in blocks)
    assert len(blocks) >= words // 32
