"""Targets of capabilities that have not landed yet: they appear in ``dlm graph`` with their
real dependencies and config slices, so users can see the whole pipeline, and refuse to build
with a line saying so. Each moves to its own rule module (train.py, gguf.py, ...) as it lands.
"""

from __future__ import annotations

from dlmbuild.engine.target import Target

QUANTS = ("f16", "q8_0", "q4_k_m", "q5_k_m", "q6_k")
NOT_YET = "is not available in this version of dlm yet (gate, merge and export land next)"


def _planned(name: str, rule: str, deps: tuple[str, ...], config: dict, heavy: bool, description: str) -> Target:
    return Target(name=name, rule=rule, version=0, action=None, deps=deps, config=config, heavy=heavy,
                  description=description, unavailable=f"{name} {NOT_YET}")


def targets(project) -> list[Target]:
    config = project.doc.config
    training = config.training
    names = training.adapter_names
    out = []
    train_targets = [f":train-{name}" for name in names]  # real targets, from rules/train.py
    merge_deps = tuple(train_targets)
    if training.gate.enabled and len(names) > 1:
        out.append(_planned(":gate", "gate", tuple(train_targets), {"gate": training.gate.model_dump(mode="json")}, True, "train the adapter router"))
        merge_deps += (":gate",)
    out.append(_planned(":merge", "merge", merge_deps, {}, True, "merge adapters into the base"))
    for quant in QUANTS:
        out.append(_planned(f":gguf-{quant}", "gguf", (":merge",), {"quant": quant}, True, f"GGUF at {quant.upper()}"))
    out.append(_planned(":gguf-lora", "gguf_lora", tuple(train_targets), {}, True, "adapter as a GGUF LoRA"))
    default_gguf = f":gguf-{config.export.default_quant.lower()}"
    export_cfg = {"export": config.export.model_dump(mode="json"), "system_prompt": config.system_prompt,
                  "training.sequence_len": training.sequence_len}
    out.append(_planned(":export-ollama", "export_ollama", (default_gguf,), export_cfg, False, "Ollama Modelfile bundle"))
    out.append(_planned(":export-llama-server", "export_llama_server", (default_gguf,), export_cfg, False, "llama-server bundle"))
    out.append(_planned(":export-vllm", "export_vllm", (":merge",), export_cfg, False, "vLLM bundle"))
    out.append(_planned(":export-mlx-serve", "export_mlx_serve", tuple(train_targets), export_cfg, False, "mlx-lm bundle"))
    out.append(_planned(":export-hf", "export_hf", tuple(train_targets), export_cfg, False, "HF snapshot"))
    out.append(_planned(":pack", "pack", tuple(train_targets), {}, False, "verifiable .dlm.pack"))
    return out


def aliases(project) -> dict[str, list[str]]:
    config = project.doc.config
    names = config.training.adapter_names
    train = [f":train-{n}" for n in names]  # the gate joins ':train' when it lands
    return {":train": train, ":gguf": [f":gguf-{config.export.default_quant.lower()}"]}
