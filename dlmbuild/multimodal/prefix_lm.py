"""Examples for vision bases whose processor has no chat template: PaliGemma's prefix-LM layout.

PaliGemma was trained on ``<image>…<image><bos>PREFIX\\n`` followed by a SUFFIX and ``<eos>``.
The prefix (image tokens and prompt, ``token_type_ids`` 0) attends both ways; the suffix (type 1)
is generated causally. There are no turns, so there is no chat template to render: the
processor lays out the prefix itself from the prompt and the images. A dlm example maps onto it
directly, as PaliGemma's own fine-tuning recipe does: the prompt is the prefix, the answer the
suffix, and the loss falls on the suffix and its ``<eos>`` (where generation must stop).

The suffix is tokenized on its own, after the prefix, as the processor's ``suffix=`` argument
does, so the prefix of a training example is token for token what ``dlm prompt --image`` sends.
The processor refuses a text without images; a text-only example (an instruction that follows
no image, on a vision base) is laid out the same way without image tokens.
"""

from __future__ import annotations

from dlmbuild.multimodal.chat import TEXT_KEYS
from dlmbuild.multimodal.labels import IGNORE

IMAGE_TOKEN = "<image>"


def has_chat_template(processor) -> bool:
    return bool(getattr(processor, "chat_template", None))


def prefix_inputs(processor, prompt: str, images: list) -> dict:
    """The processor's tensors for the prefix of ``prompt`` with ``images`` (a batch of one),
    without the ``labels`` the processor adds for backward compatibility."""
    import torch

    if images:
        token = getattr(processor, "image_token", IMAGE_TOKEN)
        inputs = dict(processor(text=[token * len(images) + prompt], images=[images], return_tensors="pt"))
    else:
        tokenizer = processor.tokenizer
        encoded = tokenizer([(tokenizer.bos_token or "") + prompt + "\n"], add_special_tokens=False, return_tensors="pt")
        inputs = {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"],
                  "token_type_ids": torch.zeros_like(encoded["input_ids"])}
    inputs.pop("labels", None)
    return inputs


def encode_prefix_lm(processor, prompt: str, answer: str, images: list) -> tuple[list[int], list[int], dict]:
    """``(ids, labels, tensors)``: the prefix, then the answer and ``<eos>`` as the suffix;
    ``tensors`` holds the media tensors and the whole example's ``token_type_ids``."""
    import torch

    tokenizer = processor.tokenizer
    if tokenizer.eos_token_id is None:
        raise ValueError("a prefix-LM base needs an eos token to end its answers")
    head = prefix_inputs(processor, prompt, images)
    head_ids = head["input_ids"][0].tolist()
    answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    tensors = {k: v for k, v in head.items() if k not in TEXT_KEYS}
    tensors["token_type_ids"] = torch.tensor([[0] * len(head_ids) + [1] * len(answer_ids)])
    return head_ids + answer_ids, [IGNORE] * len(head_ids) + answer_ids, tensors
