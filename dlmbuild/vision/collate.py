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

A base whose processor has no chat template (PaliGemma) takes its own prefix-LM layout instead:
the prompt is the prefix, the answer the suffix (``dlmbuild.multimodal.prefix_lm``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dlmbuild.multimodal.chat import encode_chat
from dlmbuild.multimodal.labels import IGNORE
from dlmbuild.multimodal.prefix_lm import encode_prefix_lm, has_chat_template, prefix_inputs
from dlmbuild.vision.images import DEFAULT_MAX_PIXELS, load_image

DESCRIBE_PROMPT = "Describe the image."


@dataclass(frozen=True)
class Encoded:
    """One example, tokenized: ``pixel_values`` is (1, tiles, 3, H, W) or None without images."""

    input_ids: list[int]
    labels: list[int]
    pixel_values: Any = None
    pixel_attention_mask: Any = None
    # the processor's other tensors, passed to the model as they are (Qwen2-VL's image_grid_thw)
    extra: dict[str, Any] = field(default_factory=dict)


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
    prompt, answer = example_prompt(example), example["answer"]
    if has_chat_template(processor):
        ids, labels, tensors = encode_chat(processor, user_message(len(images), prompt), answer,
                                           lambda text: processor_inputs(processor, text, images))
    else:
        ids, labels, tensors = encode_prefix_lm(processor, prompt, answer, images)
    pixels, mask = tensors.pop("pixel_values", None), tensors.pop("pixel_attention_mask", None)
    return Encoded(ids, labels, pixels, mask, tensors)


def collate(batch: list[Encoded], pad_id: int) -> dict:
    """Right-pad a batch into tensors; images are zero-padded to the batch's most tiles (the
    Idefics3 family drops all-zero tiles before the vision tower). Pixels in another layout
    (Qwen2-VL's flattened patches) and a processor's other tensors (its ``image_grid_thw``) pass
    through as they are for a batch of one (training and generation run one example per
    forward); a larger batch of them is refused, as their layout is the family's own."""
    import torch

    extras = [e.extra for e in batch if e.extra]
    flat = [e for e in batch if e.pixel_values is not None and e.pixel_values.dim() != 5]  # not (1, tiles, 3, H, W)
    if (extras or flat) and len(batch) > 1:
        names = sorted(extras[0]) if extras else ["flattened pixel_values"]
        raise ValueError(f"batching examples with {', '.join(names)} is not supported: collate one at a time")

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
    if flat:  # a batch of one, in its family's own layout
        out["pixel_values"] = flat[0].pixel_values
        if flat[0].pixel_attention_mask is not None:
            out["pixel_attention_mask"] = flat[0].pixel_attention_mask
    elif with_images:
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
    if extras:
        out.update(extras[0])
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


def prompt_inputs(processor, question: str, images: list) -> dict:
    """The processor's tensors for asking ``question`` about ``images``, laid out as training
    laid out an example's prompt (chat turn or prefix)."""
    if has_chat_template(processor):
        return processor_inputs(processor, prompt_text(processor, len(images), question), images)
    return prefix_inputs(processor, question, images)


def processor_inputs(processor, text: str, images: list):
    """The processor's tensors for one rendered text and its images (batch of one)."""
    if images:
        return processor(text=[text], images=[images], return_tensors="pt")
    return processor(text=[text], return_tensors="pt")
