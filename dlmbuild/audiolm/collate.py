"""From audio examples to model inputs: the processor's chat template and feature extractor,
with loss only on the answer.

An example is ``{"clips": [paths], "prompt": str | None, "answer": str}``. It becomes one user
turn (the clips, then the prompt) and one assistant turn (the answer), rendered by the base's
own chat template; the processor turns each clip into log-mel features and expands its audio
placeholder into as many audio tokens as the encoder yields for the clip's length. Labels cover
the answer through its end-of-turn token.

A transcript (a clip with no prompt) is trained as the answer to ``TRANSCRIBE_PROMPT``: at prompt
time a clip always arrives in a chat turn with a question, so the model learns to say what is
said when asked, in the one input format training and ``dlm prompt --audio`` share.

Clips are read with soundfile and resampled to the feature extractor's rate
(``dlmbuild.speech.audio.load_clip``). The extractor pads or cuts every clip to one window
(30 s for Qwen2-Audio); a longer clip is refused rather than cut, so a transcript never
describes audio the model did not hear.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlmbuild.multimodal.chat import encode_chat

TRANSCRIBE_PROMPT = "What is said in the audio?"


@dataclass(frozen=True)
class Encoded:
    """One example, tokenized; ``features`` holds the processor's audio tensors (batch of one)."""

    input_ids: list[int]
    labels: list[int]
    features: dict[str, Any] = field(default_factory=dict)


def user_message(n_clips: int, prompt: str) -> dict:
    return {"role": "user", "content": [*({"type": "audio"} for _ in range(n_clips)), {"type": "text", "text": prompt}]}


def prompt_text(processor, n_clips: int, prompt: str) -> str:
    """The rendered user turn plus the assistant's opening, as generation sees it."""
    return processor.apply_chat_template([user_message(n_clips, prompt)], tokenize=False, add_generation_prompt=True)


def example_prompt(example: dict) -> str:
    prompt = example.get("prompt")
    if prompt:
        return prompt
    if not example.get("clips"):
        raise ValueError("an example without clips needs a prompt")
    return TRANSCRIBE_PROMPT


def window_seconds(processor) -> float:
    extractor = processor.feature_extractor
    return extractor.n_samples / extractor.sampling_rate


def load_clips(processor, paths: list) -> list:
    """Each clip as float32 mono samples at the feature extractor's rate; a clip longer than the
    extractor's window is refused in one line."""
    from dlmbuild.speech.audio import load_clip

    rate = processor.feature_extractor.sampling_rate
    limit = processor.feature_extractor.n_samples
    clips = []
    for path in paths:
        samples = load_clip(path, rate)
        if len(samples) > limit:
            raise ValueError(f"{Path(path)}: the clip is {len(samples) / rate:.1f} s long; the base hears at most "
                             f"{window_seconds(processor):.0f} s per clip (split it)")
        clips.append(samples)
    return clips


def processor_inputs(processor, text: str, clips: list) -> dict:
    """The processor's tensors for one rendered text and its clips (batch of one), without the
    bookkeeping entries the model does not take."""
    if clips:
        out = processor(text=[text], audio=clips, sampling_rate=processor.feature_extractor.sampling_rate, return_tensors="pt")
    else:
        out = processor(text=[text], return_tensors="pt")
    return {k: v for k, v in out.items() if k not in getattr(processor, "unused_input_names", ())}


def encode_example(processor, example: dict) -> Encoded:
    """Tokenize one example with its clips; labels cover the answer through its end-of-turn."""
    clips = load_clips(processor, example.get("clips") or [])
    message = user_message(len(clips), example_prompt(example))
    ids, labels, features = encode_chat(processor, message, example["answer"], lambda text: processor_inputs(processor, text, clips))
    return Encoded(ids, labels, features)


def to_inputs(example: Encoded) -> dict:
    """One forward's keyword arguments for ``example``, labels included."""
    import torch

    ids = torch.tensor([example.input_ids], dtype=torch.long)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": torch.tensor([example.labels]),
            **example.features}
