"""GGUF export of a VL model: a text GGUF plus an ``mmproj`` projector GGUF.

Both files come from the pinned llama.cpp's ``convert_hf_to_gguf.py`` on one merged HF folder
(``merge.merge_adapter``): once as usual for the text model (the converter takes the text
model's architecture from ``text_config``), once with ``--mmproj`` for the vision tower and
connector. Only the SmolVLM/Idefics3 family is accepted here: it is the family whose smoke test
(``vision.smoke``) has run end to end (llama.cpp also converts Qwen2-VL; nothing here has
checked it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SUPPORTED = {"Idefics3ForConditionalGeneration": "SmolVLM/Idefics3", "SmolVLMForConditionalGeneration": "SmolVLM"}
OUTTYPES = ("f16", "q8_0")


@dataclass(frozen=True)
class VisionGguf:
    text: Path
    mmproj: Path


def check_architecture(model_dir: Path) -> str:
    from dlmbuild.export.convert import check_architecture as check

    return check(model_dir, SUPPORTED, "VL GGUF export")


def convert_vl(toolchain, model_dir: Path, out_dir: Path, *, name: str, outtype: str = "f16") -> VisionGguf:
    """Write ``<name>.<outtype>.gguf`` and ``<name>.mmproj.<outtype>.gguf`` into ``out_dir``."""
    from dlmbuild.export.convert import check_written, run_tool, to_gguf

    check_architecture(model_dir)
    if outtype not in OUTTYPES:
        raise ValueError(f"the converter writes {OUTTYPES}, not {outtype}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    text = out_dir / f"{name}.{outtype}.gguf"
    mmproj = out_dir / f"{name}.mmproj.{outtype}.gguf"
    to_gguf(toolchain, Path(model_dir), text, outtype, name)
    run_tool([str(toolchain.convert_hf), str(model_dir), "--mmproj", "--outfile", str(mmproj), "--outtype", outtype,
          "--model-name", name],
         "convert_hf_to_gguf --mmproj")
    check_written(mmproj)
    return VisionGguf(text, mmproj)
