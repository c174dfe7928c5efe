"""Loading the base once per process, and restoring it after each adapter.

A build that trains three adapters loads the base once: each ``:train-<name>`` wraps the cached
model with its LoRA layers, trains, saves, then unloads them (``unload`` removes the injected
layers without merging), leaving the frozen base exactly as loaded for the next adapter.
"""

from __future__ import annotations

from pathlib import Path

from dlmbuild.errors import EnvironmentProblem
from dlmbuild.util.memo import memo_dict

# (path, device, qlora, weights hash) -> the loaded base; one entry at most.
_LOADED: dict[tuple[str, str, bool, str], object] = memo_dict("train.base_model")


def load_base(path: Path, device: str = "cpu", *, qlora: bool = False, weights_hash: str = ""):
    """The base, loaded once per process; ``weights_hash`` keeps a long-lived process (``--watch``)
    from training on stale weights after the files at ``path`` were replaced."""
    key = (str(path), device, qlora, weights_hash)
    if key not in _LOADED:
        _LOADED.clear()  # one base in memory at a time
        _LOADED[key] = _load(Path(path), device, qlora)
    return _LOADED[key]


def quiet_transformers() -> None:
    """dlm prints its own progress; silence the library's bars and advisory warnings."""
    import warnings

    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")
    warnings.filterwarnings("ignore", category=UserWarning, module="peft")


def _load(path: Path, device: str, qlora: bool):
    import torch
    from transformers import AutoModelForCausalLM

    quiet_transformers()

    kwargs: dict = {"dtype": torch.float32}
    if qlora:
        kwargs["quantization_config"] = qlora_config()
        kwargs["dtype"] = torch.bfloat16
    model = AutoModelForCausalLM.from_pretrained(str(path), attn_implementation="sdpa", **kwargs)
    if not qlora:
        model.to(device)
    model.config.use_cache = False
    for param in model.parameters():
        param.requires_grad_(False)
    return model


def qlora_config():
    """A 4-bit NF4 quantization config, or a clear refusal when bitsandbytes cannot run here."""
    try:
        import bitsandbytes  # noqa: F401
    except Exception as exc:  # ImportError, or a broken native library
        raise EnvironmentProblem(f"adapter: qlora needs bitsandbytes, which is not usable here ({type(exc).__name__}); "
                                 "pip install bitsandbytes, or use adapter: lora") from None
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16,
                              bnb_4bit_use_double_quant=True)


def linear_module_names(model) -> tuple[str, ...]:
    """Every linear projection inside the transformer blocks, by leaf name, sorted (peft matches
    suffixes; sorting keeps adapter_config.json byte-stable). The output head is left out."""
    import torch

    names = set()
    for full, module in model.named_modules():
        leaf = full.rsplit(".", 1)[-1]
        if leaf == "lm_head" or full.endswith("lm_head"):
            continue
        if isinstance(module, torch.nn.Linear) or type(module).__name__ in ("Linear4bit", "Linear8bitLt"):
            names.add(leaf)
    return tuple(sorted(names))
