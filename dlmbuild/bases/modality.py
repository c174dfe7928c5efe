"""What kind of input a base reads: ``text``, ``vision`` (images and text), ``speech`` (a
speech-to-text model such as Whisper) or ``audio`` (an audio-language model answering about
clips). Decided without loading anything (no torch): the registry row for a key, else the
``architectures`` entry of the model's ``config.json`` (a local folder or the HF cache), so a
document that puts ``::image::`` on a text base is refused before any target runs.
"""

from __future__ import annotations

import json
from pathlib import Path

from dlmbuild.bases.registry import REGISTRY, is_path_reference

TEXT, VISION, SPEECH, AUDIO = "text", "vision", "speech", "audio"
# transformers architecture classes of the multimodal families dlm knows.
ARCHITECTURES = {
    "Idefics3ForConditionalGeneration": VISION,  # SmolVLM
    "SmolVLMForConditionalGeneration": VISION,
    "Qwen2VLForConditionalGeneration": VISION,
    "Qwen2_5_VLForConditionalGeneration": VISION,
    "PaliGemmaForConditionalGeneration": VISION,
    "LlavaForConditionalGeneration": VISION,
    "WhisperForConditionalGeneration": SPEECH,
    "Qwen2AudioForConditionalGeneration": AUDIO,
}
# Which section types each modality can train on besides text.
READS_IMAGES = (VISION,)
READS_AUDIO = (SPEECH, AUDIO)


def of_architecture(architecture: str | None) -> str:
    return ARCHITECTURES.get(architecture or "", TEXT)


def _config_architecture(folder: Path) -> str | None:
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    names = config.get("architectures") if isinstance(config, dict) else None
    return names[0] if isinstance(names, list) and names and isinstance(names[0], str) else None


def modality_of(base_model: str, doc_dir: Path) -> str:
    """The modality of ``base_model`` as a document in ``doc_dir`` names it; ``text`` when it
    cannot be told yet (a base not on this machine: resolving it says so, later)."""
    row = REGISTRY.get(base_model)
    if row is not None:
        return getattr(row, "modality", TEXT)
    if is_path_reference(base_model):
        folder = Path(base_model).expanduser()
        folder = folder if folder.is_absolute() else doc_dir / folder
        return of_architecture(_config_architecture(folder))
    if base_model.startswith("hf:"):
        from dlmbuild.bases.hfcache import find_snapshot

        repo, _, revision = base_model[3:].partition("@")
        from dlmbuild.bases.hfcache import is_repo_id

        snapshot = find_snapshot(repo, revision or "main") if is_repo_id(repo) else None
        return of_architecture(_config_architecture(snapshot.path)) if snapshot else TEXT
    return TEXT


def suggestion(modality: str) -> str:
    """Registry keys of bases that read ``modality`` inputs, for a refusal's hint."""
    keys = [key for key, row in REGISTRY.items() if getattr(row, "modality", TEXT) == modality]
    return ", ".join(keys)
