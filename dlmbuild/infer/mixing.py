"""Several adapters at once, each at a weight: the exact weighted sum of their deltas.

peft runs every active LoRA adapter of a layer and adds its output, each times its ``scaling``
(``lora_alpha / r``, or ``/ sqrt(r)`` with rsLoRA). Activating the chosen adapters and setting
each one's scaling to ``weight × trained scaling`` (peft's ``set_scale``) gives
``y = W x + Σ wᵢ · sᵢ · Bᵢ Aᵢ x``: the weighted sum ``export.mix`` merges with peft's ``cat``
combination, and llama.cpp computes from per-request LoRA scales, with nothing merged or
copied. A DoRA adapter rescales the whole weight by its magnitude vector, which does not add,
so it is used alone at weight 1 or refused.
"""

from __future__ import annotations

import json

from dlmbuild.errors import UsageError


def check_weights(weights: dict[str, float], versions: dict) -> None:
    """Refuse a selection that cannot be computed exactly, before any forward pass."""
    if not weights:
        raise UsageError("no adapter selected")
    if len(weights) == 1 and next(iter(weights.values())) == 1.0:
        return
    for name, version in versions.items():
        try:
            config = json.loads((version.path / "adapter_config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if config.get("use_dora"):
            raise UsageError(f"cannot weight or mix DoRA adapter '{name}': a DoRA magnitude does not add; use it alone (--adapter {name})")


def activate(model, weights: dict[str, float]) -> None:
    """Make exactly ``weights``' adapters active on a ``PeftModel``, each at its weight."""
    from peft.tuners.lora import LoraLayer

    names = list(weights)
    model.base_model.set_adapter(names if len(names) > 1 else names[0], inference_mode=True)
    for module in model.modules():
        if isinstance(module, LoraLayer):
            for name, weight in weights.items():
                module.set_scale(name, weight)
