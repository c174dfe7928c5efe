"""Merging adapters into the base: the HF folder every GGUF and the vLLM bundle start from.

The merge runs in float32 whatever the stored dtype (a bf16 add of a small delta loses most of
it), then saves in the dtype the base's weights are stored in, so a merged 1.7B base is not
written at twice its size. The folder gets the base's tokenizer files and chat template as they
are, so the runtime renders prompts with exactly the template the adapter was trained on.
"""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

from dlmbuild.export.mix import MixItem

MIX_NAME = "dlm-mix"
# Files a runtime needs beside the weights; copied verbatim from the base folder.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt",
                   "tokenizer.model", "chat_template.jinja", "chat_template.json", "generation_config.json",
                   "added_tokens.json")
_SAFETENSORS_DTYPES = {"F32": "float32", "BF16": "bfloat16", "F16": "float16"}


def stored_dtype(base_dir: Path) -> str:
    """The dtype of the base's first floating tensor on disk (read from a safetensors header)."""
    for path in sorted(Path(base_dir).glob("*.safetensors")):
        with open(path, "rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(size))
        for name, info in header.items():
            if name != "__metadata__" and info.get("dtype") in _SAFETENSORS_DTYPES:
                return _SAFETENSORS_DTYPES[info["dtype"]]
    return "float32"


def load_mixed(base_dir: Path, items: tuple[MixItem, ...], folders: dict[str, Path]):
    """The base in float32 with the adapters applied as one (possibly weighted) adapter: a
    ``PeftModel`` whose active adapter is the mix. Used by the merge and by ``:export-hf``."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from dlmbuild.train.base_model import quiet_transformers

    quiet_transformers()
    base = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=torch.float32)
    first = items[0].adapter
    model = PeftModel.from_pretrained(base, str(folders[first]), adapter_name=first)
    if len(items) == 1 and items[0].weight == 1.0:
        return model, first
    for item in items[1:]:
        model.load_adapter(str(folders[item.adapter]), adapter_name=item.adapter)
    model.add_weighted_adapter([i.adapter for i in items], [i.weight for i in items], MIX_NAME, combination_type="cat")
    model.set_adapter(MIX_NAME)
    return model, MIX_NAME


def with_default_system(template: str, system: str) -> str:
    """The chat template, made to start every conversation that has no system message with the
    document's ``system_prompt``, as every training row did. Runtimes that render the embedded
    template (llama.cpp, vLLM, LM Studio) then answer a bare user question the way training
    taught, without each client having to repeat the system prompt."""
    literal = json.dumps(system, ensure_ascii=False)
    prefix = ("{%- if not messages or messages[0]['role'] != 'system' %}"
              f"{{%- set messages = [{{'role': 'system', 'content': {literal}}}] + messages %}}"
              "{%- endif %}")
    return prefix + template


def install_template(out_dir: Path, template: str) -> None:
    """Write ``template`` where loaders look: chat_template.jinja, and tokenizer_config.json
    when that holds one (it wins in older loaders)."""
    (out_dir / "chat_template.jinja").write_text(template, encoding="utf-8")
    config_path = out_dir / "tokenizer_config.json"
    if config_path.is_file():
        config = json.loads(config_path.read_text(encoding="utf-8"))
        if "chat_template" in config:
            config["chat_template"] = template
            config_path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def merge(base_dir: Path, items: tuple[MixItem, ...], folders: dict[str, Path], out_dir: Path,
          system_prompt: str | None = None) -> dict:
    """Write the merged model to ``out_dir`` (which exists and is empty); returns a summary."""
    import torch

    base_dir, out_dir = Path(base_dir), Path(out_dir)
    model, active = load_mixed(base_dir, items, folders)
    merged = model.merge_and_unload(adapter_names=[active])
    dtype = stored_dtype(base_dir)
    merged = merged.to(getattr(torch, dtype))
    merged.save_pretrained(str(out_dir), safe_serialization=True)
    for name in TOKENIZER_FILES:
        if (base_dir / name).is_file():
            shutil.copyfile(base_dir / name, out_dir / name)
    if system_prompt:
        from dlmbuild.bases.fingerprint import chat_template_text

        template = chat_template_text(base_dir)
        if template:
            install_template(out_dir, with_default_system(template, system_prompt))
    return {"adapters": [{"name": i.adapter, "weight": i.weight} for i in items], "dtype": dtype,
            "architecture": (merged.config.architectures or ["?"])[0]}
