"""LoRA on a Whisper base from (clip, transcript) pairs: domain adaptation of the decoder.

What is trained, and why:

- **The decoder only**: every linear layer of its blocks (self-attention q/k/v/out, the
  cross-attention's q/k/v/out, fc1/fc2; ``TARGET_MODULES``). Teaching a base a document's names
  and terms is a question of which tokens to write for sounds the encoder already represents:
  "Kelvarro" is heard, and spelled wrong, by the decoder's language model. The encoder is left
  as it is, for two reasons: adapting the acoustic model on a handful of clips of one voice
  would fit that voice rather than the words, and a frozen encoder's output for a clip is
  constant, so it is computed once before training instead of at every step (the encoder over a
  30 s window is most of a forward pass). All linear layers rather than q/v only: an adapter of
  this rank is still about 1% of the decoder, and the feed-forward layers are where a language
  model stores its vocabulary associations.
- **Labels** are the transcript's tokens after Whisper's prompt
  (``<|startoftranscript|> <|notimestamps|>``), with a leading space as Whisper writes a
  sentence's first word, followed by end-of-text; the prompt is input only.

Deterministic on CPU: seeded (``train.recipe.seed_everything``), a fixed thread count for the
run (restored after), LoRA dropout 0, full-batch steps in a fixed order, and float32. The same
inputs, seed and thread count give a byte-identical ``adapter_model.safetensors``.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from dlmbuild.speech.audio import clip_info
from dlmbuild.speech.model import load_speech_model, torch_threads
from dlmbuild.speech.transcribe import clip_features, whisper_of
from dlmbuild.store.adapter_config import stabilize_adapter_folder
from dlmbuild.store.atomic import atomic_directory
from dlmbuild.train.recipe import seed_everything

# peft matches a string target_modules as a regular expression over full module names.
TARGET_MODULES = r"model\.decoder\.layers\.\d+\.((self_attn|encoder_attn)\.(q_proj|k_proj|v_proj|out_proj)|fc1|fc2)"
IGNORE = -100
BASE_KEY = "whisper-tiny.en"


def label_ids(speech, transcript: str) -> list[int]:
    """``prompt + transcript tokens + end of text`` as ids."""
    text = " " + " ".join(transcript.split())
    return [*speech.prompt, *speech.tokenizer.encode(text, add_special_tokens=False), speech.eot]


def train_speech_lora(
    model_dir: str | Path,
    examples: list[tuple[Path, str]],
    out_dir: str | Path,
    *,
    r: int = 8,
    alpha: int = 16,
    steps: int = 20,
    learning_rate: float = 1e-3,
    seed: int = 0,
    threads: int = 1,
    base_key: str = BASE_KEY,
) -> dict:
    """Train a LoRA adapter on ``examples`` and save it as a PEFT folder in ``out_dir`` (see
    ``_save``); return what the run did.

    A missing or unreadable clip, a clip over 30 s or an empty transcript raises ``ValueError``
    (one line naming the clip) before any training.
    """
    import torch
    from peft import LoraConfig, get_peft_model

    if not examples:
        raise ValueError("no (clip, transcript) examples to train on")
    if steps < 1 or r < 1 or learning_rate <= 0 or threads < 1:
        raise ValueError(f"steps, r and threads must be at least 1 and learning_rate positive (got {steps}, {r}, {threads}, {learning_rate})")
    for clip, transcript in examples:
        clip_info(clip)  # a missing or unreadable clip fails here, before the model loads
        if not isinstance(transcript, str) or not transcript.strip():
            raise ValueError(f"{clip}: the transcript is empty")

    started = time.perf_counter()
    with torch_threads(threads):
        seed_everything(seed)
        speech = load_speech_model(model_dir)
        features = torch.cat([clip_features(speech, clip) for clip, _ in examples])
        sequences = [label_ids(speech, transcript) for _, transcript in examples]
        inputs, labels = _batch(sequences, speech.eot, len(speech.prompt), speech.max_target_positions)

        whisper = speech.model
        with torch.no_grad():
            encoded = whisper.get_encoder()(input_features=features).last_hidden_state
        config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=0.0, bias="none", target_modules=TARGET_MODULES)
        model = get_peft_model(whisper, config)
        model.train()
        trainable = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(trainable, lr=learning_rate, weight_decay=0.0)
        losses = _fit(model, optimizer, encoded, inputs, labels, steps, learning_rate)
        model.eval()
        _save(model, Path(out_dir), base_key)
    return {
        "steps": steps,
        "examples": len(examples),
        "label_tokens": int((labels != IGNORE).sum()),
        "first_loss": losses[0],
        "final_loss": losses[-1],
        "trainable_params": sum(p.numel() for p in trainable),
        "r": r,
        "alpha": alpha,
        "learning_rate": learning_rate,
        "seed": seed,
        "threads": threads,
        "seconds": round(time.perf_counter() - started, 2),
        "target_modules": TARGET_MODULES,
    }


def _save(model, out_dir: Path, base_key: str) -> None:
    """The PEFT folder, byte-stable (``store.adapter_config``). A folder that does not exist yet
    appears whole or not at all (written beside it, then renamed); an existing one, such as the
    staging folder a build action is given, is the caller's to publish and is written into."""
    if out_dir.is_dir():
        model.save_pretrained(str(out_dir))
        stabilize_adapter_folder(out_dir, base_key)
        return
    with atomic_directory(out_dir) as tmp:
        model.save_pretrained(str(tmp))
        stabilize_adapter_folder(tmp, base_key)


def _batch(sequences: list[list[int]], pad: int, prompt_len: int, max_positions: int):
    """Decoder inputs (each sequence but its last token, padded with end-of-text) and labels
    (each but its first, the prompt's tail and the padding set to -100)."""
    import torch

    longest = max(len(s) for s in sequences) - 1
    if longest > max_positions:
        raise ValueError(f"a transcript is {longest} tokens long; this Whisper base writes at most {max_positions}")
    inputs = torch.full((len(sequences), longest), pad, dtype=torch.long)
    labels = torch.full((len(sequences), longest), IGNORE, dtype=torch.long)
    for row, seq in enumerate(sequences):
        inputs[row, : len(seq) - 1] = torch.tensor(seq[:-1])
        labels[row, : len(seq) - 1] = torch.tensor(seq[1:])
        labels[row, : prompt_len - 1] = IGNORE  # predicting the prompt's own tokens is not trained
    return inputs, labels


def _fit(model, optimizer, encoded, inputs, labels, steps: int, learning_rate: float) -> list[float]:
    """Full-batch steps, cosine decay to a tenth of the rate, no warmup (a few dozen steps)."""
    import torch
    from transformers.modeling_outputs import BaseModelOutput

    whisper = whisper_of(model)
    encoder_outputs = BaseModelOutput(last_hidden_state=encoded)
    losses = []
    for step in range(steps):
        lr = learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / max(steps - 1, 1))))
        for group in optimizer.param_groups:
            group["lr"] = lr
        logits = whisper(encoder_outputs=encoder_outputs, decoder_input_ids=inputs, use_cache=False).logits
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=IGNORE)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(round(float(loss.detach()), 6))
    return losses
