"""Transcribing a clip with a Whisper base (and optionally a LoRA adapter): greedy and deterministic.

The decoding loop is written out rather than left to ``model.generate`` because it is the
contract the conversion is checked against: CTranslate2's Whisper decoding with
``beam_size=1`` is exactly this loop (its default ``suppress_tokens=[-1]`` and
``suppress_blank=True``): the prompt ``<|startoftranscript|> <|notimestamps|>``, the model's
suppressed tokens masked at every step, ``begin_suppress_tokens`` (a blank, end of text) masked at
the first, argmax, stop at end of text. ``generate``'s Whisper path adds long-form and timestamp
logic whose defaults move between transformers versions. With no sampling and a fixed thread
count, the same clip gives the same tokens. The decoder keeps a KV cache, so the cross-attention
over the encoder's 1500 frames is projected once per clip, not once per token.
"""

from __future__ import annotations

from pathlib import Path

from dlmbuild.speech.audio import clip_info, load_clip
from dlmbuild.speech.model import SpeechModel, cache_argument, cache_of, load_speech_model, torch_threads

DEFAULT_MAX_NEW_TOKENS = 128


class Transcriber:
    """A loaded model that transcribes many clips (loading costs about a second). ``threads``:
    torch's thread count while it works (restored after); None leaves it as it is."""

    def __init__(self, model_dir: str | Path, *, adapter_dir: str | Path | None = None, threads: int | None = 1):
        self.threads = threads
        with torch_threads(threads):
            self.speech: SpeechModel = load_speech_model(model_dir, adapter_dir=adapter_dir)

    def features(self, clip_path: str | Path):
        return clip_features(self.speech, clip_path)

    def tokens(self, clip_path: str | Path, *, max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS) -> list[int]:
        with torch_threads(self.threads):
            return greedy_tokens(self.speech, self.features(clip_path), max_new_tokens=max_new_tokens)

    def transcribe(self, clip_path: str | Path, *, max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS) -> str:
        return self.text(self.tokens(clip_path, max_new_tokens=max_new_tokens))

    def text(self, tokens: list[int]) -> str:
        return self.speech.tokenizer.decode(tokens, skip_special_tokens=True).strip()


def transcribe(model_dir: str | Path, clip_path: str | Path, *, adapter_dir: str | Path | None = None,
               max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS, threads: int | None = 1) -> str:
    """The transcript of ``clip_path`` by the Whisper folder ``model_dir`` (with ``adapter_dir``'s
    LoRA when given). A missing, unreadable or too long clip raises ``ValueError`` (one line)."""
    return Transcriber(model_dir, adapter_dir=adapter_dir, threads=threads).transcribe(clip_path, max_new_tokens=max_new_tokens)


def check_length(speech: SpeechModel, clip_path: str | Path) -> None:
    """Refuse a clip longer than one encoder window, from its header (before reading samples)."""
    seconds, _rate, _channels = clip_info(clip_path)
    if seconds > speech.max_seconds:
        raise ValueError(f"{clip_path}: the clip is {seconds:.1f} s long; this Whisper base takes at most {speech.max_seconds:.0f} s")


def clip_features(speech: SpeechModel, clip_path: str | Path):
    """The clip's log-mel features, shape (1, mel bins, frames), padded to one 30 s window."""
    check_length(speech, clip_path)
    audio = load_clip(clip_path, speech.sampling_rate)
    return speech.feature_extractor(audio, sampling_rate=speech.sampling_rate, return_tensors="pt").input_features


def whisper_of(model):
    """The WhisperForConditionalGeneration inside a PeftModel (its LoRA layers are in place)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def greedy_tokens(speech: SpeechModel, input_features, *, max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS) -> list[int]:
    """The generated token ids (the prompt and the end-of-text token left out)."""
    import torch
    from transformers.modeling_outputs import BaseModelOutput

    whisper = whisper_of(speech.model)
    limit = min(max_new_tokens, speech.max_target_positions - len(speech.prompt))
    cache_name = cache_argument(whisper)
    generated: list[int] = []
    with torch.inference_mode():
        hidden = whisper.get_encoder()(input_features=input_features).last_hidden_state
        encoded = BaseModelOutput(last_hidden_state=hidden)
        step_input, past = list(speech.prompt), None
        for step in range(limit):
            out = whisper(encoder_outputs=encoded, decoder_input_ids=torch.tensor([step_input]), use_cache=True, **{cache_name: past})
            past = cache_of(out)  # the cross-attention keys and values are computed once, at the first step
            logits = out.logits[0, -1].clone()
            logits[speech.suppress] = float("-inf")
            if step == 0:
                logits[speech.begin_suppress] = float("-inf")
            token = int(torch.argmax(logits))
            if token == speech.eot:
                break
            generated.append(token)
            step_input = [token]
    return generated
