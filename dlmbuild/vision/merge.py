"""A VL base with an adapter merged in, saved as a plain HF folder (what the GGUF converter reads).

llama.cpp's converter takes an HF folder, and a VL export is two files from that one folder: the
text model (with the LoRA merged, since the adapter only touches the text model) and the
projector (vision tower + connector, unchanged by training). The processor files travel with the
weights: the converter reads the image size, mean and std for the projector from them, and the
tokenizer and chat template for the text GGUF.
"""

from __future__ import annotations

from pathlib import Path

from dlmbuild.multimodal.model import load_model, load_processor


def merge_adapter(model_dir: Path, adapter_dir: Path | None, out_dir: Path) -> Path:
    """Save ``model_dir`` with ``adapter_dir`` merged (or as it is, without one) into ``out_dir``."""
    model = load_model(model_dir)
    if adapter_dir is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir))
    load_processor(model_dir).save_pretrained(str(out_dir))
    return out_dir
