"""Loading a Whisper base folder (and optionally a LoRA adapter) for decoding and training.

One place knows what a speech model needs beside its weights: the feature extractor (16 kHz
log-mel, 30 s windows), the tokenizer, and the decoding settings Whisper was released with
(the tokens it must never emit, those it must not start with, the prompt for English-only
transcription without timestamps). They are read from the folder's ``generation_config.json``
and ``config.json``, so a Whisper folder from the HF cache works as well as the converted one.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path

from dlmbuild.errors import EnvironmentProblem


@dataclass
class SpeechModel:
    model: object  # WhisperForConditionalGeneration, or a PeftModel around one
    feature_extractor: object  # WhisperFeatureExtractor
    tokenizer: object
    prompt: list[int]  # decoder prompt: <|startoftranscript|> [<|en|> <|transcribe|>] <|notimestamps|>
    eot: int
    suppress: list[int]  # never generated
    begin_suppress: list[int]  # not generated as the first token
    max_target_positions: int

    @property
    def sampling_rate(self) -> int:
        return int(self.feature_extractor.sampling_rate)

    @property
    def max_seconds(self) -> float:
        """The longest clip the encoder takes in one window (30 s for Whisper)."""
        return float(self.feature_extractor.n_samples) / self.sampling_rate


def load_speech_model(model_dir: str | Path, *, adapter_dir: str | Path | None = None) -> SpeechModel:
    """The model (with ``adapter_dir``'s LoRA, frozen, when given) in float32 eval mode.

    A folder that is not a Whisper model raises ``ValueError`` with one line."""
    try:
        import torch
        from transformers import AutoTokenizer, WhisperFeatureExtractor, WhisperForConditionalGeneration
    except ImportError as exc:
        raise EnvironmentProblem(
            f"speech models need the model stack ({exc.name or exc} is missing): pip install 'dlmbuild[ml]'"
        ) from None
    from dlmbuild.train.base_model import quiet_transformers

    model_dir = Path(model_dir)
    _check_folder(model_dir)
    quiet_transformers()  # no progress bars or advisory warnings from the libraries
    model = WhisperForConditionalGeneration.from_pretrained(str(model_dir), dtype=torch.float32)
    if adapter_dir is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter_dir))
    model.eval()
    feature_extractor = WhisperFeatureExtractor.from_pretrained(str(model_dir))
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    settings = _decoding_settings(model_dir)
    return SpeechModel(model=model, feature_extractor=feature_extractor, tokenizer=tokenizer, **settings)


def _check_folder(model_dir: Path) -> None:
    """One line for a folder that is not a Whisper model, before transformers gets to raise."""
    try:
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    except OSError:
        raise ValueError(f"{model_dir}: not a speech model folder (no readable config.json)") from None
    except ValueError:
        raise ValueError(f"{model_dir}: config.json is not valid JSON") from None
    architectures = config.get("architectures") if isinstance(config, dict) else None
    if architectures != ["WhisperForConditionalGeneration"]:
        raise ValueError(f"{model_dir}: a {architectures[0] if architectures else 'model without architectures'}, "
                         f"not a WhisperForConditionalGeneration speech model")


def _decoding_settings(model_dir: Path) -> dict:
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    try:
        generation = json.loads((model_dir / "generation_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        generation = {}

    def pick(name, default=None):
        value = generation.get(name)
        return config.get(name, default) if value is None else value

    sot = pick("decoder_start_token_id")
    eot = pick("eos_token_id")
    eot = eot[0] if isinstance(eot, list) else eot
    no_timestamps = generation.get("no_timestamps_token_id")
    if sot is None or eot is None or no_timestamps is None:
        raise EnvironmentProblem(
            f"{model_dir} lacks Whisper's decoding settings (decoder_start_token_id, eos_token_id, "
            f"no_timestamps_token_id in generation_config.json)"
        )
    prompt = [sot]
    if generation.get("is_multilingual"):  # English transcription on a multilingual Whisper
        lang, task = generation.get("lang_to_id", {}).get("<|en|>"), generation.get("task_to_id", {}).get("transcribe")
        prompt += [t for t in (lang, task) if t is not None]
    prompt.append(no_timestamps)
    return {
        "prompt": prompt,
        "eot": int(eot),
        "suppress": [int(t) for t in pick("suppress_tokens", []) or []],
        "begin_suppress": [int(t) for t in pick("begin_suppress_tokens", []) or []],
        "max_target_positions": int(config.get("max_target_positions", 448)),
    }


@contextlib.contextmanager
def torch_threads(threads: int | None):
    """Run with ``threads`` intra-op threads (restored after); None leaves torch's setting.

    A fixed count is part of determinism (it fixes the order of float reductions), and on a
    shared CPU fewer threads than cores avoids the stalls oversubscription causes: decoding one
    token took 15 ms on one thread and 330 ms on two while another process held a core.
    """
    if threads is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def cache_argument(whisper) -> str:
    """The keyword a Whisper forward takes its KV cache by: ``cache`` in transformers >= 5.2x,
    ``past_key_values`` before (still accepted, with a deprecation warning, until 5.40)."""
    import inspect

    return "cache" if "cache" in inspect.signature(whisper.forward).parameters else "past_key_values"


def cache_of(output):
    """The KV cache a forward returned, under either name."""
    cache = getattr(output, "cache", None)
    return cache if cache is not None else getattr(output, "past_key_values", None)
