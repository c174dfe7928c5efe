"""The HF snapshot of a vision-language, speech or audio-language adapter: the export for bases
that llama.cpp cannot run from here (Whisper, Qwen2-Audio-class models, and vision-language
families other than SmolVLM/Idefics3, whose GGUF pair is checked here).

It holds each adapter as a PEFT folder (``adapters/<name>/``), the base's processor and
tokenizer files (so ``AutoProcessor.from_pretrained(snapshot)`` prepares images or clips as
training did), ``manifest.json`` (base, modality, adapters, why there is no GGUF), a README
with the loading code for the modality, and ``SHA256SUMS`` over every other file. The base's
weights are not copied: the README names where to load them from.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from dlmbuild.export.hf_snapshot import ADAPTER_FILES, SUMS
from dlmbuild.store.exports import sha256_file

# What the processor needs, as transformers saves it; weights and the model's own config stay
# with the base.
PROCESSOR_SUFFIXES = (".json", ".txt", ".jinja", ".model")
NOT_PROCESSOR = {"config.json", "generation_config.json", "model.safetensors.index.json"}
MANIFEST = "manifest.json"

SPEECH_CODE = """import soundfile
from peft import PeftModel
from transformers import WhisperForConditionalGeneration, WhisperProcessor

processor = WhisperProcessor.from_pretrained("path/to/this/folder")
base = WhisperForConditionalGeneration.from_pretrained("{load_from}")
model = PeftModel.from_pretrained(base, "path/to/this/folder/adapters/{adapter}").eval()
audio, rate = soundfile.read("clip.wav", dtype="float32")  # mono, at {rate} Hz (resample other rates first)
features = processor(audio, sampling_rate=rate, return_tensors="pt").input_features
print(processor.batch_decode(model.generate(input_features=features), skip_special_tokens=True)[0].strip())"""

VISION_CODE = """from PIL import Image
from peft import PeftModel
from transformers import AutoModelForImageTextToText, AutoProcessor

processor = AutoProcessor.from_pretrained("path/to/this/folder")
base = AutoModelForImageTextToText.from_pretrained("{load_from}")
model = PeftModel.from_pretrained(base, "path/to/this/folder/adapters/{adapter}").eval()
messages = [{{"role": "user", "content": [{{"type": "image"}}, {{"type": "text", "text": "What is in the image?"}}]}}]
prompt = processor.apply_chat_template(messages, add_generation_prompt=True)
inputs = processor(text=[prompt], images=[[Image.open("image.png").convert("RGB")]], return_tensors="pt")
out = model.generate(**inputs, max_new_tokens=64, do_sample=False)
print(processor.decode(out[0][inputs["input_ids"].shape[1]:], skip_special_tokens=True).strip())"""

# A vision base without a chat template (PaliGemma): the question is the prefix after the images.
PREFIX_VISION_CODE = """from PIL import Image
from peft import PeftModel
from transformers import AutoModelForImageTextToText, AutoProcessor

processor = AutoProcessor.from_pretrained("path/to/this/folder")
base = AutoModelForImageTextToText.from_pretrained("{load_from}")
model = PeftModel.from_pretrained(base, "path/to/this/folder/adapters/{adapter}").eval()
inputs = processor(text=["<image>What is in the image?"], images=[[Image.open("image.png").convert("RGB")]], return_tensors="pt")
inputs.pop("labels", None)
out = model.generate(**inputs, max_new_tokens=64, do_sample=False)
print(processor.decode(out[0][inputs["input_ids"].shape[1]:], skip_special_tokens=True).strip())"""

AUDIO_CODE = """from peft import PeftModel
from transformers import AutoModelForMultimodalLM, AutoProcessor
import soundfile

processor = AutoProcessor.from_pretrained("path/to/this/folder")
base = AutoModelForMultimodalLM.from_pretrained("{load_from}")
model = PeftModel.from_pretrained(base, "path/to/this/folder/adapters/{adapter}").eval()
audio, rate = soundfile.read("clip.wav", dtype="float32")  # mono, at {rate} Hz (resample other rates first)
messages = [{{"role": "user", "content": [{{"type": "audio"}}, {{"type": "text", "text": "What do you hear?"}}]}}]
prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
inputs = processor(text=[prompt], audio=[audio], sampling_rate=rate, return_tensors="pt")
inputs.pop("num_audio_tokens", None)
out = model.generate(**inputs, max_new_tokens=64, do_sample=False)
print(processor.decode(out[0][inputs["input_ids"].shape[1]:], skip_special_tokens=True).strip())"""
CODE = {"speech": SPEECH_CODE, "vision": VISION_CODE, "audio": AUDIO_CODE}
WHAT = {"speech": "transcribes clips", "vision": "answers about images", "audio": "answers about clips"}


def folder_has_chat_template(folder: Path) -> bool:
    """Whether a saved processor carries a chat template (PaliGemma's does not), read from its
    files without loading it."""
    if (folder / "chat_template.jinja").exists() or (folder / "chat_template.json").exists():
        return True
    config = folder / "processor_config.json"
    return config.exists() and bool(json.loads(config.read_text(encoding="utf-8")).get("chat_template"))


def no_gguf_reason(modality: str, pair_built: bool = False) -> str:
    """The one line that says why a media adapter does not export as this GGUF or bundle."""
    if modality == "speech":
        return "llama.cpp does not run Whisper models, so a speech adapter exports as an HF snapshot (`:export-hf`)"
    if modality == "audio":
        return ("llama.cpp's audio path is not checked here for audio-language models, so this adapter exports as an "
                "HF snapshot (`:export-hf`)")
    if pair_built:
        return ("a vision adapter exports as its GGUF pair (`:gguf-media`), an Ollama bundle (`:export-ollama`) "
                "or an HF snapshot (`:export-hf`)")
    return ("llama.cpp's vision GGUF pair (model + mmproj) is checked here only for the SmolVLM/Idefics3 family, "
            "so this vision adapter exports as an HF snapshot (`:export-hf`)")


def gguf_line(modality: str, pair_built: bool) -> str:
    """What the snapshot says about GGUF: where the vision pair comes from, or why there is none."""
    if pair_built:
        return ("GGUF: this adapter also exports as a llama.cpp model GGUF plus its mmproj projector GGUF "
                "(`dlm build DOC :gguf-media`, or `dlm export DOC --target ollama` for an Ollama bundle)")
    return f"No GGUF: {no_gguf_reason(modality)}"


def readme(name: str, base_ref: str, hf_id: str | None, modality: str, adapters: list[str], rate: int | None,
           pair_built: bool = False, chat_template: bool = True) -> str:
    load_from = hf_id or "PATH/TO/BASE"
    base_line = f"`{hf_id}` (dlm base `{base_ref}`)" if hf_id else f"`{base_ref}`"
    template = PREFIX_VISION_CODE if modality == "vision" and not chat_template else CODE[modality]
    code = template.format(load_from=load_from, adapter=adapters[0], rate=rate or 16000)
    what = WHAT[modality]
    return f"""# {name}: dlm {modality} adapters

LoRA adapters trained by dlm from `{name}.dlm` on {base_line}: {", ".join(adapters)} (one PEFT
folder each under `adapters/`). The processor and tokenizer files here are the base's, as
training used them; the base's weights are not included. This loads the first adapter and
{what}:

```python
{code}
```

{gguf_line(modality, pair_built)}.

Check the files with `sha256sum -c {SUMS}`.
"""


def write_media_snapshot(out_dir: Path, adapters: dict[str, Path], base_dir: Path, *, base_ref: str, name: str,
                         modality: str, pair_built: bool = False) -> None:
    """Assemble the snapshot in ``out_dir`` from each adapter's folder and the base's folder;
    ``SHA256SUMS`` is written last, over every other file (nested ones by relative path)."""
    from dlmbuild.bases.registry import REGISTRY

    out_dir, base_dir = Path(out_dir), Path(base_dir)
    for adapter, folder in adapters.items():
        (out_dir / "adapters" / adapter).mkdir(parents=True)
        for file in ADAPTER_FILES:
            shutil.copyfile(Path(folder) / file, out_dir / "adapters" / adapter / file)
    copied = []
    for path in sorted(base_dir.iterdir()):
        if path.is_file() and path.suffix in PROCESSOR_SUFFIXES and path.name not in NOT_PROCESSOR and not path.name.startswith("."):
            shutil.copyfile(path, out_dir / path.name)
            copied.append(path.name)
    row = REGISTRY.get(base_ref)
    hf_id = row.hf_id if row else None
    rate = _sampling_rate(base_dir) if modality in ("speech", "audio") else None
    manifest = {"kind": "dlm.media-snapshot", "name": name, "modality": modality, "base": base_ref, "base_hf_id": hf_id,
                "adapters": sorted(adapters), "processor_files": copied, "gguf": gguf_line(modality, pair_built)}
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    template = folder_has_chat_template(base_dir)
    (out_dir / "README.md").write_text(readme(name, base_ref, hf_id, modality, sorted(adapters), rate, pair_built, template),
                                       encoding="utf-8")
    files = sorted(p for p in out_dir.rglob("*") if p.is_file())
    lines = [f"{sha256_file(path)}  {path.relative_to(out_dir).as_posix()}" for path in files]
    (out_dir / SUMS).write_text("\n".join(lines) + "\n", encoding="utf-8")


def _sampling_rate(base_dir: Path) -> int | None:
    """The feature extractor's rate: in ``preprocessor_config.json``, or nested in
    ``processor_config.json`` as newer transformers save a processor."""
    for name, path in (("preprocessor_config.json", ()), ("processor_config.json", ("feature_extractor",))):
        try:
            config = json.loads((base_dir / name).read_text(encoding="utf-8"))
            for key in path:
                config = config[key]
            return int(config["sampling_rate"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return None
