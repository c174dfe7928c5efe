"""The HF snapshot bundle: a PEFT adapter folder anyone can load with transformers + peft.

It holds the adapter (``adapter_config.json``, ``adapter_model.safetensors``), the base's
tokenizer files and chat template (so ``AutoTokenizer.from_pretrained(bundle)`` renders prompts
as training did), a README showing how to load it, and ``SHA256SUMS`` (``sha256sum -c SHA256SUMS``
checks the copy).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from dlmbuild.export.merge import TOKENIZER_FILES
from dlmbuild.store.exports import sha256_file

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
SUMS = "SHA256SUMS"


def readme(name: str, base_ref: str, hf_id: str | None, selection: str) -> str:
    """The bundle's README: which base to load (its Hub id when dlm knows one) and the five lines that load the adapter with peft."""
    base_line = f"`{hf_id}` (dlm base `{base_ref}`)" if hf_id else f"`{base_ref}`"
    load_from = hf_id or "PATH/TO/BASE"
    return f"""# {name}: a dlm adapter

A PEFT adapter trained by dlm from `{name}.dlm` on {base_line}; adapters: {selection}.
The tokenizer files and chat template here are the base's, as training used them.

```python
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained("path/to/this/folder")
base = AutoModelForCausalLM.from_pretrained("{load_from}")
model = PeftModel.from_pretrained(base, "path/to/this/folder")
messages = [{{"role": "user", "content": "Hello"}}]
ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt")
print(tokenizer.decode(model.generate(ids, max_new_tokens=64)[0][ids.shape[1]:], skip_special_tokens=True))
```

Check the files with `sha256sum -c {SUMS}`.
"""


def write_snapshot(out_dir: Path, adapter_dir: Path, base_dir: Path, *, base_ref: str, name: str, selection: str) -> None:
    """Assemble the HF bundle in ``out_dir``: the adapter files, the base's tokenizer files
    (without generation_config.json), the README, and ``SHA256SUMS``, written last so that it
    covers every other file, the README included."""
    from dlmbuild.bases.registry import REGISTRY

    out_dir, adapter_dir, base_dir = Path(out_dir), Path(adapter_dir), Path(base_dir)
    for file in ADAPTER_FILES:
        shutil.copyfile(adapter_dir / file, out_dir / file)
    for file in TOKENIZER_FILES:
        if (base_dir / file).is_file() and file != "generation_config.json":
            shutil.copyfile(base_dir / file, out_dir / file)
    row = REGISTRY.get(base_ref)
    (out_dir / "README.md").write_text(readme(name, base_ref, row.hf_id if row else None, selection), encoding="utf-8")
    lines = [f"{sha256_file(path)}  {path.name}" for path in sorted(out_dir.iterdir()) if path.is_file()]
    (out_dir / SUMS).write_text("\n".join(lines) + "\n", encoding="utf-8")
