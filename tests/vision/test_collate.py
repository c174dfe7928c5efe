"""The collator: the base's chat template, image tokens in place, loss on the answer only."""

from __future__ import annotations

import pytest

from dlmbuild.vision.collate import DESCRIBE_PROMPT, IGNORE, VisionCollator, processor_inputs, prompt_text
from dlmbuild.vision.images import load_image
from dlmbuild.multimodal.model import load_processor
from tests.vision.conftest import QUESTION

TOKENS_PER_IMAGE = 5 * 4  # 2x2 tiles + the global view, 4 tokens each


@pytest.fixture(scope="module")
def collator(tiny_vlm):
    return VisionCollator(load_processor(tiny_vlm))


def labelled_text(collator, encoded) -> str:
    return collator.processor.tokenizer.decode([t for t in encoded.labels if t != IGNORE])


def test_loss_only_on_the_answer_and_its_end_of_turn(collator, pictures):
    encoded = collator.encode({"images": [str(pictures["red-circle"])], "prompt": QUESTION, "answer": "A red circle."})
    assert labelled_text(collator, encoded) == "A red circle.<|im_end|>"
    image_id = collator.processor.tokenizer.convert_tokens_to_ids("<image>")
    assert encoded.input_ids.count(image_id) == TOKENS_PER_IMAGE
    first_label = next(i for i, t in enumerate(encoded.labels) if t != IGNORE)
    head = processor_inputs(collator.processor, prompt_text(collator.processor, 1, QUESTION), [load_image(pictures["red-circle"])])
    assert first_label == len(head["input_ids"][0])
    assert tuple(encoded.pixel_values.shape) == (1, 5, 3, 64, 64)


def test_caption_answers_the_describe_prompt(collator, pictures):
    encoded = collator.encode({"images": [str(pictures["blue-square"])], "prompt": None, "answer": "A blue square on yellow."})
    text = collator.processor.tokenizer.decode(encoded.input_ids)
    assert f"{DESCRIBE_PROMPT}<|im_end|>\n<|im_start|>assistant\nA blue square on yellow.<|im_end|>" in text
    assert labelled_text(collator, encoded) == "A blue square on yellow.<|im_end|>"


def test_batch_pads_text_and_image_tiles(collator, pictures):
    batch = collator([
        {"images": [str(pictures["red-circle"]), str(pictures["blue-square"])], "prompt": "Compare them.", "answer": "Red, blue."},
        {"images": [], "prompt": "Say hi.", "answer": "Hi."},
    ])
    assert batch["input_ids"].shape == batch["labels"].shape == batch["attention_mask"].shape
    assert tuple(batch["pixel_values"].shape) == (2, 10, 3, 64, 64)
    assert not batch["pixel_values"][1].any()  # the text-only row's tiles are zero padding
    short = int(batch["attention_mask"][1].sum())
    assert (batch["labels"][1, short:] == IGNORE).all()
    assert (batch["input_ids"][1, short:] == collator.pad_id).all()


def test_text_only_example_needs_a_prompt(collator):
    with pytest.raises(ValueError, match="needs a prompt"):
        collator.encode({"images": [], "prompt": None, "answer": "x"})


def test_bad_image_is_one_line(collator, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 not really")
    with pytest.raises(ValueError, match=r"broken\.jpg: Pillow cannot"):
        collator.encode({"images": [str(bad)], "prompt": "q", "answer": "a"})


def test_other_processor_tensors_pass_through_one_at_a_time():
    """Qwen2-VL-style processors add tensors of their own (``image_grid_thw``): a batch of one
    hands them to the model as they are; batching them is refused rather than guessed."""
    import torch

    from dlmbuild.vision.collate import Encoded, collate

    grid = torch.tensor([[1, 4, 4]])
    one = Encoded([5, 6, 7], [IGNORE, 6, 7], torch.zeros(16, 8), None, {"image_grid_thw": grid})
    batch = collate([one], pad_id=0)
    assert batch["image_grid_thw"] is grid and batch["input_ids"].tolist() == [[5, 6, 7]]
    assert batch["pixel_values"] is one.pixel_values  # flattened patches keep their layout
    with pytest.raises(ValueError, match="batching examples with image_grid_thw is not supported"):
        collate([one, one], pad_id=0)
