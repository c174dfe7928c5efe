"""Export a PEFT LoRA/DoRA adapter as an mlx-lm adapter folder (its ``launch.sh`` is in
``export.launchers``).

mlx-lm (``mlx_lm.tuner.utils.load_adapters``) reads a folder holding:

* ``adapter_config.json`` with ``fine_tune_type`` ("lora" or "dora"), ``num_layers`` (the
  adapters go on the *last* ``num_layers`` blocks of ``model.layers``) and ``lora_parameters``
  = ``{rank, scale, dropout, keys}``. ``keys`` are module paths *relative to one block*
  (``self_attn.q_proj``), matched against ``block.named_modules()``; one rank and one scale
  apply to every wrapped module.
* ``adapters.safetensors``, loaded with ``model.load_weights(..., strict=False)`` into the
  wrapped model, so names are the mlx module paths plus the LoRALinear / DoRALinear parameter
  names: ``model.layers.3.self_attn.q_proj.lora_a`` (in, r), ``...lora_b`` (r, out) and, for
  DoRA, ``...m`` (out,). ``strict=False`` means a misspelled name is silently ignored, which
  is why this module checks names and shapes itself instead of trusting the loader.

mlx's LoRALinear computes ``linear(x) + scale * ((x @ lora_a) @ lora_b)``; PEFT computes
``base(x) + scaling * (x @ A.T @ B.T)`` with ``scaling = lora_alpha / r`` (or
``lora_alpha / sqrt(r)`` with ``use_rslora``). So ``lora_a = A.T``, ``lora_b = B.T`` and
``scale = scaling``. mlx's DoRALinear computes ``m / ||W + scale * (lora_b.T @ lora_a.T)||_row
* (x @ W.T + scale * x @ lora_a @ lora_b) + bias`` with the norm taken per output row, which is
PEFT's DoRA forward term for term, with ``m`` = PEFT's ``lora_magnitude_vector``.

Tensors are written as float32: it holds every dtype PEFT saves adapters in (fp32, bf16, fp16)
exactly, whereas fp16 would round fp32 values and overflow the bf16 range; it is also the
dtype mlx-lm's own trained adapters have, and LoRALinear casts its update back to the
activation dtype, so fp32 adapters serve fp16/bf16 base models. Adapters are small, so the
doubled size over fp16 does not matter.

Anything mlx-lm cannot represent exactly is refused with a one-line ``UsageError`` (exit 2):
the user asked for an export of an adapter this runtime cannot hold.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from dlmbuild.errors import UsageError
from dlmbuild.store.atomic import atomic_write_bytes, atomic_write_text

ADAPTER_WEIGHTS = "adapters.safetensors"
ADAPTER_CONFIG = "adapter_config.json"
PEFT_WEIGHTS = "adapter_model.safetensors"
PEFT_CONFIG = "adapter_config.json"

# PEFT prefixes every tensor with "base_model.model." (the LoraModel wrapper); what follows is
# the module path inside the transformers model, which for Llama-family models is also the mlx
# path: the decoder blocks live at ``model.layers.<i>``.
_PEFT_KEY = re.compile(
    r"^base_model\.model\.model\.layers\.(?P<layer>\d+)\.(?P<rel>[A-Za-z_][\w.]*?)\."
    r"(?P<part>lora_A\.weight|lora_B\.weight|lora_magnitude_vector(?:\.weight)?)$"
)

# Config switches that change the forward pass or the base weights in ways an mlx LoRALinear /
# DoRALinear cannot reproduce. Each maps to the reason given in the refusal.
_UNSUPPORTED_SWITCHES = {
    "fan_in_fan_out": "transposed (Conv1D-style) base weights",
    "lora_bias": "a trainable bias on lora_B",
    "modules_to_save": "fully trained copies of whole modules",
    "trainable_token_indices": "trainable token embeddings",
    "layer_replication": "replicated layers",
    "target_parameters": "LoRA on raw parameters (target_parameters)",
    "alora_invocation_tokens": "activated LoRA (aLoRA)",
    "use_qalora": "QA-LoRA",
    "use_bdlora": "block-diagonal LoRA",
    "arrow_config": "Arrow routing",
    "kasa_config": "KaSA",
    "monteclora_config": "MonteCLoRA",
}
# init_lora_weights values under which PEFT rewrites the base weights (unless the adapter was
# saved with path_initial_model_for_weight_conversion, which resets this field to True), or
# which select a different LoRA variant.
_BASE_ALTERING_INITS = ("pissa", "olora", "corda", "loftq", "mica")


def _refuse(message: str) -> UsageError:
    """A refusal as one line (messages are built from wrapped pieces)."""
    return UsageError(" ".join(message.split()))


def _pattern_value(patterns: dict[str, Any], module: str, default: Any) -> Any:
    """PEFT's rank_pattern/alpha_pattern lookup: the first pattern that matches the end of the
    module path on a dot boundary wins (``peft.utils.other.get_pattern_key``)."""
    for pattern, value in patterns.items():
        try:
            found = re.match(rf"(.*\.)?({pattern})$", module)
        except re.error as err:
            raise _refuse(f"alpha_pattern key {pattern!r} is not a valid pattern ({err})") from None
        if found:
            return value
    return default


def _describe_stray_tensor(weights_path: Path, key: str) -> str:
    path = key.removeprefix("base_model.model.")
    parts = path.split(".")
    markers = ("lora_", "base_layer", "modules_to_save", "original_module", "trainable_tokens")
    cut = next((i for i, p in enumerate(parts) if p.startswith(markers)), len(parts) - 1)
    module = ".".join(parts[:cut]) or path
    if re.match(r"model\.layers\.\d+\.", module):
        return (
            f"{weights_path}: tensor {key!r} has no counterpart in mlx-lm's LoRALinear/DoRALinear"
            " (only lora_A, lora_B and the DoRA magnitude convert)"
        )
    return (
        f"{weights_path}: the adapter trains {module}, outside the decoder layers"
        " (model.layers.N.*); mlx-lm adapters only cover modules inside each layer"
    )


def _read_peft_config(peft_dir: Path) -> dict[str, Any]:
    path = peft_dir / PEFT_CONFIG
    if not path.is_file():
        raise _refuse(f"{path}: missing; not a PEFT adapter folder")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise _refuse(f"{path}: unreadable PEFT config ({err})") from None
    if not isinstance(config, dict):
        raise _refuse(f"{path}: PEFT config is not a JSON object")
    peft_type = config.get("peft_type", "LORA")
    if peft_type != "LORA":
        raise _refuse(f"{path}: peft_type {peft_type!r} is not LoRA; mlx-lm only loads LoRA/DoRA")
    for key, what in _UNSUPPORTED_SWITCHES.items():
        if config.get(key):
            raise _refuse(f"{path}: {key} is set ({what}); mlx-lm adapters cannot represent it")
    bias = config.get("bias", "none")
    if bias not in (None, "none"):
        raise _refuse(f"{path}: bias={bias!r} trains biases; mlx-lm adapters cannot represent it")
    init = config.get("init_lora_weights", True)
    if isinstance(init, str) and init.lower().startswith(_BASE_ALTERING_INITS):
        raise _refuse(
            f"{path}: init_lora_weights={init!r} changes the base weights or the LoRA variant;"
            " mlx-lm would apply the adapter to the unmodified base model"
        )
    return config


def _load_tensors(peft_dir: Path) -> dict[str, Any]:
    path = peft_dir / PEFT_WEIGHTS
    if not path.is_file():
        raise _refuse(f"{path}: missing; not a PEFT adapter folder")
    from safetensors.torch import load_file  # torch reads bf16, which numpy cannot

    try:
        return load_file(str(path), device="cpu")
    except Exception as err:  # safetensors raises its own error types
        raise _refuse(f"{path}: unreadable safetensors file ({err})") from None


def convert_adapter(peft_dir: Path, out_dir: Path, num_layers: int) -> dict:
    """Convert the PEFT adapter in ``peft_dir`` into mlx-lm's ``adapters.safetensors`` and
    ``adapter_config.json`` inside ``out_dir`` (which must exist).

    ``num_layers`` is the base model's number of decoder blocks; mlx-lm wraps the last
    ``num_layers`` blocks, so passing all of them keeps block indices identical.
    Returns the adapter_config dict that was written.
    """
    import torch
    from safetensors.torch import save

    peft_dir, out_dir = Path(peft_dir), Path(out_dir)
    if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 1:
        raise _refuse(f"num_layers must be a positive integer, got {num_layers!r}")
    if not out_dir.is_dir():
        raise _refuse(f"{out_dir}: output folder does not exist")

    config = _read_peft_config(peft_dir)
    tensors = _load_tensors(peft_dir)
    weights_path = peft_dir / PEFT_WEIGHTS
    use_dora = bool(config.get("use_dora", False))

    # Group tensors by (layer, layer-relative module path).
    modules: dict[tuple[int, str], dict[str, Any]] = {}
    for key in sorted(tensors):
        match = _PEFT_KEY.match(key)
        if match is None:
            raise _refuse(_describe_stray_tensor(weights_path, key))
        layer, rel, part = int(match["layer"]), match["rel"], match["part"]
        part = {"lora_A.weight": "A", "lora_B.weight": "B"}.get(part, "m")
        modules.setdefault((layer, rel), {})[part] = tensors[key]
    if not modules:
        raise _refuse(f"{weights_path}: no LoRA tensors found")

    out_tensors: dict[str, Any] = {}
    settings: dict[tuple[int, float], str] = {}  # (rank, scale) -> first module that has it
    alpha = config.get("lora_alpha", 8)
    rslora = bool(config.get("use_rslora", False))
    alpha_pattern = config.get("alpha_pattern") or {}
    for (layer, rel), parts in sorted(modules.items()):
        where = f"model.layers.{layer}.{rel}"
        if layer >= num_layers:
            raise _refuse(
                f"{weights_path}: adapter has {where} but the model has only {num_layers} layers"
            )
        if "A" not in parts or "B" not in parts:
            raise _refuse(f"{weights_path}: {where} lacks its lora_A or lora_B tensor")
        a, b = parts["A"], parts["B"]
        if a.ndim != 2 or b.ndim != 2 or b.shape[1] != a.shape[0]:
            raise _refuse(
                f"{weights_path}: {where} has lora_A {tuple(a.shape)} and lora_B"
                f" {tuple(b.shape)}; expected (r, in) and (out, r) of a linear layer"
            )
        if ("m" in parts) != use_dora:
            raise _refuse(
                f"{weights_path}: {where} "
                + ("has a DoRA magnitude but use_dora is off" if "m" in parts
                   else "lacks the DoRA magnitude vector although use_dora is on")
            )
        rank = int(a.shape[0])
        module_alpha = _pattern_value(alpha_pattern, where, alpha)
        scale = module_alpha / math.sqrt(rank) if rslora else module_alpha / rank
        settings.setdefault((rank, scale), where)

        name = f"model.layers.{layer}.{rel}"
        out_tensors[f"{name}.lora_a"] = a.to(torch.float32).T.contiguous()
        out_tensors[f"{name}.lora_b"] = b.to(torch.float32).T.contiguous()
        if use_dora:
            m = parts["m"].reshape(-1)
            if m.shape[0] != b.shape[0]:
                raise _refuse(
                    f"{weights_path}: {where} DoRA magnitude has {m.shape[0]} entries for"
                    f" {b.shape[0]} outputs"
                )
            out_tensors[f"{name}.m"] = m.to(torch.float32).contiguous()

    if len(settings) > 1:
        shown = "; ".join(
            f"{where}: rank {rank}, scale {scale:g}" for (rank, scale), where in settings.items()
        )
        raise _refuse(
            f"{peft_dir}: modules use different LoRA rank/scale ({shown}); mlx-lm applies one"
            " rank and one scale to every adapted module (rank_pattern/alpha_pattern)"
        )
    ((rank, scale),) = settings

    keys = sorted({rel for _, rel in modules})
    if use_dora:
        missing = [
            f"model.layers.{layer}.{rel}"
            for layer in range(num_layers)
            for rel in keys
            if (layer, rel) not in modules
        ]
        if missing:
            raise _refuse(
                f"{peft_dir}: DoRA adapter does not cover {missing[0]}"
                + (f" (nor {len(missing) - 1} other modules)" if len(missing) > 1 else "")
                + "; mlx-lm wraps every listed module in every layer and would have no"
                " magnitude vector for it"
            )
    # (Plain LoRA needs no such check: mlx-lm wraps uncovered modules with lora_b = 0, an exact
    # no-op, just as PEFT leaves them untouched.)

    dropout = float(config.get("lora_dropout", 0.0) or 0.0)  # inert: mlx-lm calls model.eval()
    adapter_config = {
        "fine_tune_type": "dora" if use_dora else "lora",
        "num_layers": num_layers,
        "lora_parameters": {
            "rank": rank,
            "scale": float(scale),
            "dropout": dropout,
            "keys": keys,
        },
    }

    # safetensors orders tensors by dtype then name and writes no timestamp; the metadata
    # matches what mlx's own save_safetensors writes. 0o644: whoever serves the bundle reads them.
    weights = save({k: out_tensors[k] for k in sorted(out_tensors)}, metadata={"format": "mlx"})
    atomic_write_bytes(out_dir / ADAPTER_WEIGHTS, weights, mode=0o644)
    text = json.dumps(adapter_config, indent=2, sort_keys=True) + "\n"
    atomic_write_text(out_dir / ADAPTER_CONFIG, text, mode=0o644)
    return adapter_config
