"""Loading a multimodal base (vision-language or audio-language) and its processor, and the
knobs every step on one shares.

Bases load with ``AutoModelForMultimodalLM`` (transformers' union of the image-text-to-text
families and the audio-language ones such as Qwen2-Audio) and ``AutoProcessor`` from a local folder only
(``local_files_only``): dlm resolves bases itself and never lets a load reach the Hub. Weights
load in float32, as text bases do for training, so adapters are saved in float32 and CPU runs
are bitwise reproducible.

``TEXT_LORA_TARGETS`` confines LoRA to the text model's attention and MLP projections. VL models
name their vision towers' projections the same way (SigLIP has ``q_proj``/``k_proj``/...), so a
plain module list would also adapt the vision tower; the regex anchors on the text model's
layers (``text_model`` in the Idefics3/SmolVLM family, ``language_model`` in Qwen2-VL,
PaliGemma, Qwen2-Audio and most others). Audio encoders (Whisper-style in Qwen2-Audio) stay
frozen the same way.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

TEXT_LORA_TARGETS = (r".*(?:text_model|language_model)\.layers\.\d+\."
                     r"(?:self_attn\.(?:q_proj|k_proj|v_proj|o_proj)|mlp\.(?:gate_proj|up_proj|down_proj))")


def load_processor(model_dir: Path):
    from transformers import AutoProcessor

    from dlmbuild.train.base_model import quiet_transformers

    quiet_transformers()
    return AutoProcessor.from_pretrained(str(model_dir), local_files_only=True)


def load_model(model_dir: Path):
    """The multimodal model in float32, eval mode, every parameter frozen (adapters add their own)."""
    import torch
    from transformers import AutoModelForMultimodalLM

    from dlmbuild.train.base_model import quiet_transformers

    quiet_transformers()
    model = AutoModelForMultimodalLM.from_pretrained(str(model_dir), dtype=torch.float32, local_files_only=True)
    model.eval()
    for param in model.parameters():
        param.requires_grad_(False)
    return model


@contextlib.contextmanager
def cpu_threads(threads: int, *, deterministic: bool = False):
    """Run with ``threads`` torch threads (0: leave as is) and, optionally, deterministic
    algorithms; both are restored afterwards. A fixed thread count is part of bitwise
    reproducibility on CPU: reductions split differently across threads."""
    import torch

    before = torch.get_num_threads()
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    try:
        if threads:
            torch.set_num_threads(threads)
        if deterministic:
            torch.use_deterministic_algorithms(True)
        yield
    finally:
        torch.set_num_threads(before)
        torch.use_deterministic_algorithms(was_deterministic)
