"""``dlm doctor DOC`` for a document on a vision-language, speech or audio-language base: the
examples it will train on, how many images or clips each step sees, how many tokens an image or
the longest clip becomes, and a
peak-memory estimate refused when it cannot fit, naming what to change.

The estimate is deliberately simple (the same shape as train/resources.py's for text): the base's
weights in float32, one example's activations (both trainers run a step's examples one at a
time, so the batch does not multiply them), the LoRA's optimizer state and a fixed framework
allowance. It is a plan, not a measurement.
"""

from __future__ import annotations

import json
from pathlib import Path

GIB = 1024**3
FRAMEWORK_BYTES = 600 * 1024**2
SPEECH_DECODER_TOKENS = 448  # Whisper's decoder positions
MEDIA_BATCH = 2  # dlmbuild/multimodal/lora_loop.py: examples per step, run one at a time
SMALLER_BASE = {"vision": "use a smaller base (smolvlm-256m)", "speech": "use a smaller base (whisper-tiny.en)",
                "audio": "use shorter clips"}


def _config(folder: Path, name: str) -> dict:
    try:
        return json.loads((folder / name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def image_tokens(base: Path) -> int | None:
    """Tokens one image becomes with the base's processor settings (Idefics3/SmolVLM: one
    block of ``image_seq_len`` per tile of the resized image plus the global view; PaliGemma:
    ``image_seq_length``, one fixed-size image); None when the processor is of another family."""
    processor = _config(base, "processor_config.json")
    # transformers 5 saves the image processor's settings inside processor_config.json
    image = _config(base, "preprocessor_config.json") or processor.get("image_processor") or {}
    fixed = image.get("image_seq_length") or processor.get("image_seq_length")
    if fixed:
        return int(fixed)
    seq = processor.get("image_seq_len") or image.get("image_seq_len")
    longest = (image.get("size") or {}).get("longest_edge")
    tile = (image.get("max_image_size") or {}).get("longest_edge")
    if not (seq and longest and tile):
        return None
    per_side = -(-longest // tile)
    tiles = per_side * per_side if image.get("do_image_splitting", True) and per_side > 1 else 0
    return seq * (tiles + 1)


def clip_tokens(seconds: float) -> int:
    """Audio tokens a clip becomes in a Qwen2-Audio-class model: 100 feature frames a second,
    halved by the encoder's strided convolution and again by its pooling."""
    import math

    frames = max(1, math.ceil(seconds * 100))
    return (((frames - 1) // 2 + 1) - 2) // 2 + 1


def longest_clip_tokens(project) -> int:
    from dlmbuild.document.media_files import clip_seconds
    from dlmbuild.document.sections import SectionType

    seconds = [clip_seconds(project.media_path(s)) for s in project.doc.sections if s.type is SectionType.AUDIO]
    return clip_tokens(max(seconds)) if seconds else 0


def media_plan(project, modality: str, memory: int | None) -> tuple[dict, list[str]]:
    """The adapters' plans and any refusals, for the document report."""
    from dlmbuild.cli.doctor import resolved_base_or_refusal
    from dlmbuild.rules.train_media import examples_for, knobs
    from dlmbuild.train.resources import weights_bytes

    refusals: list[str] = []
    base = resolved_base_or_refusal(project, refusals)
    adapters = {}
    for name in project.doc.config.training.adapter_names:
        examples = examples_for(project, modality, name)
        settings = knobs(project, name)
        steps = settings["max_steps"] or (settings["epochs"] * len(examples) if settings["epochs"] else None)
        entry = {"modality": modality, "examples": len(examples), "steps": steps or "trainer default",
                 "r": settings["r"], "alpha": settings["alpha"], "learning_rate": settings["learning_rate"] or "trainer default"}
        if modality == "vision":
            entry["images_per_step"] = MEDIA_BATCH
            entry["image_tokens"] = image_tokens(base.path) if base else None
        elif modality == "audio":
            entry["clips_per_step"] = MEDIA_BATCH
            entry["audio_tokens"] = longest_clip_tokens(project)
        else:
            entry["clips_per_step"] = len(examples)
        if base is not None:
            config = _config(base.path, "config.json")
            text = config.get("text_config") or config
            hidden = text.get("hidden_size") or text.get("d_model") or 0
            layers = text.get("num_hidden_layers") or text.get("decoder_layers") or 0
            media_tokens = entry.get("image_tokens") or entry.get("audio_tokens") or 0
            tokens = media_tokens + 256 if modality in ("vision", "audio") else SPEECH_DECODER_TOKENS
            activations = tokens * layers * 20 * hidden * 4
            peak = weights_bytes(base.path) + activations + FRAMEWORK_BYTES
            entry["estimated_peak_gib"] = round(peak / GIB, 2)
            if memory is not None and peak > memory:
                refusals.append(f"adapter '{name}' needs about {peak / GIB:.1f} GiB, {memory / GIB:.1f} GiB free: "
                                f"{SMALLER_BASE[modality]} or free memory")
        adapters[name] = entry
    return adapters, refusals
