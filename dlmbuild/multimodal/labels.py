"""Which tokens of a rendered chat example the loss sees: the answer, through its end of turn.

A multimodal example is rendered twice by the base's chat template, once whole and once as the
prompt generation sees (the user turn and the assistant's opening). The prompt must tokenize to
a prefix of the whole, or the model would be trained on a format it is never prompted with.
"""

from __future__ import annotations

IGNORE = -100
# End-of-turn tokens besides the tokenizer's eos: SmolVLM's, and ChatML's (Qwen2-Audio, and
# bases whose eos is <|endoftext|> while turns end in <|im_end|>).
END_OF_TURN_TOKENS = ("<end_of_utterance>", "<|im_end|>")


def end_of_turn_ids(tokenizer) -> set[int]:
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    vocab = tokenizer.get_vocab()
    ids.update(vocab[t] for t in END_OF_TURN_TOKENS if t in vocab)
    return ids


def answer_labels(ids: list[int], head_ids: list[int], stops: set[int]) -> list[int]:
    """Labels of the whole example ``ids`` whose prompt is ``head_ids``: -100 on the prompt, the
    answer's tokens through its first end-of-turn token, -100 after it (whatever the template
    writes after the turn is not the model's to say)."""
    if ids[: len(head_ids)] != head_ids:
        raise ValueError("the prompt does not tokenize to a prefix of the full example")
    labels = [IGNORE] * len(head_ids)
    answer_done = False
    for token in ids[len(head_ids):]:
        labels.append(IGNORE if answer_done else token)
        answer_done = answer_done or token in stops
    return labels


def answer_tokens(labels: list[int]) -> int:
    """Tokens the loss counts: labelled positions after the first (the shift drops position 0)."""
    return sum(1 for label in labels[1:] if label != IGNORE)


def check_prefix(full_text: str, head_text: str) -> None:
    if not full_text.startswith(head_text):
        raise ValueError("the chat template renders the assistant turn differently from its generation prompt")
