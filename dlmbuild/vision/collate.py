"""From examples to model inputs: the processor's chat template, with loss only on the answer.

An example is ``{"images": [paths], "prompt": str | None, "answer": str}``. It becomes one user
turn (the images, then the prompt) and one assistant turn (the answer), rendered by the base's
own chat template through its processor, which expands each ``<image>`` into the image tokens
the model expects. Labels are -100 on everything the user turn renders to and on padding; the
answer keeps its end-of-turn token (the model must learn to stop) and drops whatever the
template writes after it (a newline).

A caption (an image with no prompt) is trained as the answer to ``DESCRIBE_PROMPT``, not as text
that simply follows the image: at prompt time every image arrives inside a chat turn with a
question, so training captions in the same shape teaches the model to describe the image when
asked, and keeps one input format for training, ``dlm prompt --image`` and the GGUF smoke test.
(Plain captioning without a turn would teach a format nothing ever prompts with.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dlmbuild.multimodal.labels import IGNORE, answer_labels, check_prefix, end_of_turn_ids
from dlmbuild.vision.images import DEFAULT_MAX_PIXELS, load_image

DESCRIBE_PROMPT = "Describe the image."


@dataclass(frozen=True)
class Encoded:
    """One example, tokenized: ``pixel_values`` is (1, tiles, 3, H, W) or None without images."""

    input_ids: list[int]
    labels: list[int]
    pixel_values: Any = None
    pixel_attention_mask: Any = None


def user_message(n_images: int, prompt: str) -> dict:
    return {"role": "user", "content": [*({"type": "image"} for _ in range(n_images)), {"type": "text", "text": prompt}]}


def prompt_text(processor, n_images: int, prompt: str) -> str:
    """The rendered user turn plus the assistant's opening, as generation sees it."""
    return processor.apply_chat_template([user_message(n_images, prompt)], tokenize=False, add_generation_prompt=True)


def example_prompt(example: dict) -> str:
    prompt = example.get("prompt")
    if prompt:
        return prompt
    if not example.get("images"):
        raise ValueError("an example without images needs a prompt")
    return DESCRIBE_PROMPT


def encode_example(processor, example: dict, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Encoded:
    """Tokenize one example with its images; labels cover the answer through its end-of-turn."""
    images = [load_image(p, max_pixels=max_pixels) for p in example.get("images") or []]
    question = example_prompt(example)
    conversation = [user_message(len(images), question), {"role": "assistant", "content": [{"type": "text", "text": example["answer"]}]}]
    full_text = processor.apply_chat_template(conversation, tokenize=False)
    head_text = prompt_text(processor, len(images), question)
    check_prefix(full_text, head_text)
    full = processor_inputs(processor, full_text, images)
    head_ids = processor_inputs(processor, head_text, images)["input_ids"][0].tolist()
    ids = full["input_ids"][0].tolist()
    labels = answer_labels(ids, head_ids, end_of_turn_ids(processor.tokenizer))
    return Encoded(ids, labels, full.get("pixel_values"), full.get("pixel_attention_mask"))


def collate(batch: list[Encoded], pad_id: int) -> dict:
    """Right-pad a batch into tensors; images are zero-padded to the batch's most tiles (the
    Idefics3 family drops all-zero tiles before the vision tower)."""
    import torch

    width = max(len(e.input_ids) for e in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    attention = torch.zeros((len(batch), width), dtype=torch.long)
    for row, e in enumerate(batch):
        input_ids[row, : len(e.input_ids)] = torch.tensor(e.input_ids)
        labels[row, : len(e.labels)] = torch.tensor(e.labels)
        attention[row, : len(e.input_ids)] = 1
    out = {"input_ids": input_ids, "attention_mask": attention, "labels": labels}
    with_images = [e for e in batch if e.pixel_values is not None]
    if with_images:
        tiles = max(e.pixel_values.shape[1] for e in with_images)
        shape = with_images[0].pixel_values.shape[2:]
        pixels = torch.zeros((len(batch), tiles, *shape), dtype=with_images[0].pixel_values.dtype)
        mask = torch.zeros((len(batch), tiles, *shape[1:]), dtype=torch.bool)
        for row, e in enumerate(batch):
            if e.pixel_values is not None:
                n = e.pixel_values.shape[1]
                pixels[row, :n] = e.pixel_values[0]
                if e.pixel_attention_mask is not None:
                    mask[row, :n] = e.pixel_attention_mask[0].bool()
                else:
                    mask[row, :n] = True
        out["pixel_values"] = pixels
        out["pixel_attention_mask"] = mask
    return out


class VisionCollator:
    """``collator(examples) -> batch``: ``encode_example`` on each, then ``collate``."""

    def __init__(self, processor, *, max_pixels: int = DEFAULT_MAX_PIXELS):
        self.processor = processor
        self.max_pixels = max_pixels
        tokenizer = processor.tokenizer
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    def encode(self, example: dict) -> Encoded:
        return encode_example(self.processor, example, max_pixels=self.max_pixels)

    def __call__(self, examples: list[dict]) -> dict:
        return collate([self.encode(e) for e in examples], self.pad_id)


def processor_inputs(processor, text: str, images: list):
    """The processor's tensors for one rendered text and its images (batch of one)."""
    if images:
        return processor(text=[text], images=[images], return_tensors="pt")
    return processor(text=[text], return_tensors="pt")
