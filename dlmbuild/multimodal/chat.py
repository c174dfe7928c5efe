"""One training example as the base's chat template and processor render it: the ids, the
labels (the answer through its end of turn) and the processor's other tensors (pixels, audio
features, grids), for vision-language and audio-language bases alike.

The example is rendered twice, whole and as the prompt generation sees it (the user turn and the
assistant's opening); ``labels.answer_labels`` checks that the prompt is a prefix of the whole.
"""

from __future__ import annotations

from collections.abc import Callable

from dlmbuild.multimodal.labels import answer_labels, check_prefix, end_of_turn_ids

TEXT_KEYS = ("input_ids", "attention_mask")


def encode_chat(processor, user_message: dict, answer: str, inputs: Callable[[str], dict]) -> tuple[list[int], list[int], dict]:
    """``(ids, labels, tensors)`` of ``user_message`` answered by ``answer``; ``inputs(text)``
    runs the processor on a rendered text with the example's media (a batch of one)."""
    conversation = [user_message, {"role": "assistant", "content": [{"type": "text", "text": answer}]}]
    full_text = processor.apply_chat_template(conversation, tokenize=False)
    head_text = processor.apply_chat_template([user_message], tokenize=False, add_generation_prompt=True)
    check_prefix(full_text, head_text)
    full = inputs(full_text)
    head_ids = inputs(head_text)["input_ids"][0].tolist()
    ids = full["input_ids"][0].tolist()
    labels = answer_labels(ids, head_ids, end_of_turn_ids(processor.tokenizer))
    return ids, labels, {k: v for k, v in full.items() if k not in TEXT_KEYS}
