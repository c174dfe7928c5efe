"""Packing: first-fit-decreasing placement, labels, restarting positions, collate padding, and the
property the trainer relies on: rows packed into one block (positions restarting, no attention
mask) give the same logits as each row run alone, on a real tiny Llama with SDPA and eager."""

from __future__ import annotations

import pytest

from dlmbuild.train.packing import IGNORE, Block, collate, pack, row_labels


def row(tokens: list[int], mask: list[int] | None = None) -> dict:
    out = {"input_ids": list(tokens)}
    if mask is not None:
        out["loss_mask"] = list(mask)
    return out


def ids_of(index: int, length: int) -> list[int]:
    """Distinct, recognisable tokens for row ``index``: 10*index+1, 10*index+2, ..."""
    return [10 * index + k + 1 for k in range(length)]


# ---------------------------------------------------------------- placement


def test_first_fit_decreasing_hand_example():
    # seq_len 8, lengths [3, 5, 2, 4, 4] (rows 0..4).
    # Decreasing, stable on ties: r1(5), r3(4), r4(4), r0(3), r2(2).
    #   r1 -> new block A (room 3); r3 -> no fit, new block B (room 4); r4 -> B (room 0);
    #   r0 -> A (room 0); r2 -> no fit, new block C (room 6).
    lengths = [3, 5, 2, 4, 4]
    rows = [row(ids_of(i, n)) for i, n in enumerate(lengths)]
    blocks = pack(rows, 8)
    assert [b.input_ids for b in blocks] == [
        ids_of(1, 5) + ids_of(0, 3),
        ids_of(3, 4) + ids_of(4, 4),
        ids_of(2, 2),
    ]
    assert [len(b) for b in blocks] == [8, 8, 2]
    assert [b.position_ids for b in blocks] == [
        [0, 1, 2, 3, 4, 0, 1, 2],
        [0, 1, 2, 3, 0, 1, 2, 3],
        [0, 1],
    ]


def test_first_fit_takes_the_first_block_with_room_not_the_tightest():
    # seq_len 10, lengths [6, 5, 3]: r0 -> A (room 4); r1 -> new B (room 5); r2 (3) fits both
    # A (4) and B (5) and goes to the first, A.
    rows = [row(ids_of(i, n)) for i, n in enumerate([6, 5, 3])]
    blocks = pack(rows, 10)
    assert [b.input_ids for b in blocks] == [ids_of(0, 6) + ids_of(2, 3), ids_of(1, 5)]


def test_packing_is_stable_and_skips_empty_rows():
    rows = [row(ids_of(i, n)) for i, n in enumerate([2, 0, 2, 2])]
    blocks = pack(rows, 4)
    # equal lengths keep input order: r0, r2 fill block A, r3 opens B; the empty row vanishes
    assert [b.input_ids for b in blocks] == [ids_of(0, 2) + ids_of(2, 2), ids_of(3, 2)]
    assert [b.input_ids for b in pack(rows, 4)] == [b.input_ids for b in blocks]
    assert pack([], 8) == []


def test_row_exactly_seq_len_fits_and_longer_row_is_refused():
    assert [b.input_ids for b in pack([row(ids_of(0, 8))], 8)] == [ids_of(0, 8)]
    with pytest.raises(ValueError, match=r"row of 9 tokens exceeds sequence_len 8"):
        pack([row(ids_of(0, 3)), row(ids_of(1, 9))], 8)


# ---------------------------------------------------------------- labels


def test_row_labels_follow_the_loss_mask_and_drop_the_first_token():
    # instruction row: prompt tokens masked out, answer tokens trained
    labels = row_labels(row([5, 6, 7, 8, 9], [0, 0, 1, 1, 1]))
    assert labels == [IGNORE, IGNORE, 7, 8, 9]
    # first token is ignored even when the mask says train it
    assert row_labels(row([5, 6, 7], [1, 1, 0])) == [IGNORE, 6, IGNORE]
    # prose: no loss mask means every token but the first
    assert row_labels(row([5, 6, 7])) == [IGNORE, 6, 7]
    assert row_labels(row([])) == []
    assert row_labels(row([4])) == [IGNORE]


def test_row_labels_refuse_a_mask_of_the_wrong_length():
    with pytest.raises(ValueError):
        row_labels(row([1, 2, 3], [1, 1]))


def test_block_labels_and_trained_tokens():
    rows = [row([1, 2, 3], [0, 1, 1]), row([4, 5, 6, 7], [1, 1, 0, 1])]
    [block] = pack(rows, 8)
    # longer row first: [4,5,6,7] then [1,2,3]; each row's first token is -100
    assert block.input_ids == [4, 5, 6, 7, 1, 2, 3]
    assert block.labels == [IGNORE, 5, IGNORE, 7, IGNORE, 2, 3]
    assert block.position_ids == [0, 1, 2, 3, 0, 1, 2]
    assert block.trained_tokens == 4


# ---------------------------------------------------------------- collate


def test_collate_right_pads_with_ignored_labels_and_restarting_positions():
    import torch

    a = Block([1, 2, 3, 4, 5], [IGNORE, 2, 3, IGNORE, 5], [0, 1, 2, 0, 1])
    b = Block([7, 8], [IGNORE, 8], [0, 1])
    batch = collate([a, b], pad_id=0)
    assert set(batch) == {"input_ids", "labels", "position_ids"}
    assert all(t.dtype == torch.long for t in batch.values())
    assert batch["input_ids"].tolist() == [[1, 2, 3, 4, 5], [7, 8, 0, 0, 0]]
    assert batch["labels"].tolist() == [[IGNORE, 2, 3, IGNORE, 5], [IGNORE, 8, IGNORE, IGNORE, IGNORE]]
    assert batch["position_ids"].tolist() == [[0, 1, 2, 0, 1], [0, 1, 0, 1, 2]]
    # the blocks themselves are not modified
    assert b.input_ids == [7, 8] and len(b) == 2


def test_collate_of_equal_blocks_adds_no_padding():
    a = Block([1, 2], [IGNORE, 2], [0, 1])
    batch = collate([a, a], pad_id=9)
    assert batch["input_ids"].tolist() == [[1, 2], [1, 2]]


# ---------------------------------------------------------------- packed == separate, on a real model

VOCAB = 30


def tiny_llama(attn: str):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=VOCAB, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                         attn_implementation=attn)
    model = LlamaForCausalLM(config).eval()
    assert model.config._attn_implementation == attn
    return model


def alone(model, tokens: list[int]):
    import torch

    with torch.no_grad():
        ids = torch.tensor([tokens])
        return model(input_ids=ids, position_ids=torch.arange(len(tokens))[None], use_cache=False).logits[0]


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_rows_give_the_same_logits_as_rows_alone(attn):
    import torch

    model = tiny_llama(attn)
    first, second = [3, 17, 4, 9, 22, 5, 11], [8, 1, 29, 14, 6]
    [block] = pack([row(first), row(second)], 16)
    assert block.input_ids == first + second
    batch = collate([block], pad_id=0)
    with torch.no_grad():
        packed = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits[0]
    assert torch.allclose(packed[: len(first)], alone(model, first), atol=1e-5)
    assert torch.allclose(packed[len(first):], alone(model, second), atol=1e-5)

    # the check has teeth: the same tokens with continuous positions (one long sequence) let the
    # second row see the first, and its logits change
    with torch.no_grad():
        joined = model(input_ids=batch["input_ids"], position_ids=torch.arange(len(block))[None], use_cache=False).logits[0]
    assert not torch.allclose(joined[len(first):], alone(model, second), atol=1e-3)


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_padded_micro_batch_of_packed_blocks_matches_rows_alone(attn):
    """A collated micro-batch of several blocks (one padded) keeps every row independent."""
    import torch

    model = tiny_llama(attn)
    rows = [[5, 6, 7, 8, 9, 10], [2, 3, 4, 5], [12, 13, 14], [20, 21, 22, 23, 24, 25, 26, 27]]
    blocks = pack([row(r) for r in rows], 10)
    # 8 -> A(2 left); 6 -> B(4 left); 4 -> B(0); 3 -> C(7 left)
    assert [b.input_ids for b in blocks] == [rows[3], rows[0] + rows[1], rows[2]]
    batch = collate(blocks, pad_id=0)
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits
    assert torch.allclose(logits[0, :8], alone(model, rows[3]), atol=1e-5)
    assert torch.allclose(logits[1, :6], alone(model, rows[0]), atol=1e-5)
    assert torch.allclose(logits[1, 6:10], alone(model, rows[1]), atol=1e-5)
    assert torch.allclose(logits[2, :3], alone(model, rows[2]), atol=1e-5)
