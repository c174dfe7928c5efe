"""VL export: the merged tiny model becomes a text GGUF plus an mmproj GGUF with the pinned
converter, and llama.cpp's multimodal path answers the image prompt as transformers does.

The llama.cpp half runs through libmtmd, which the pinned toolchain builds (LLAVA_BUILD=ON)."""

from __future__ import annotations

import json

import pytest

from dlmbuild.errors import UsageError
from dlmbuild.vision.gguf import check_architecture, convert_vl
from tests.vision.conftest import PICTURES, QUESTION
from tests.vision.tiny_vlm import IMAGE_SIZE, LONGEST_EDGE, PATCH_SIZE, VISION


@pytest.fixture(scope="module")
def vl_export(toolchain, tiny_vlm, trained_adapter, tmp_path_factory):
    """The trained adapter merged into the tiny base, converted to F16 text + projector GGUFs."""
    from dlmbuild.vision.merge import merge_adapter

    folder = tmp_path_factory.mktemp("vl-export")
    merged = merge_adapter(tiny_vlm, trained_adapter[0], folder / "smolvlm-tiny")
    return merged, convert_vl(toolchain, merged, folder / "gguf", name="smolvlm-tiny")


def metadata(path) -> tuple[dict, dict]:
    """A GGUF's key/values (the vocabulary arrays left out) and its tensors' types by name."""
    from gguf import GGUFReader

    reader = GGUFReader(str(path))
    values = {name: field.contents() for name, field in reader.fields.items() if not name.startswith("tokenizer.ggml.")}
    return values, {t.name: t.tensor_type.name for t in reader.tensors}


def test_refuses_architectures_it_has_not_checked(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["Qwen2VLForConditionalGeneration"]}))
    with pytest.raises(UsageError, match="does not support architecture Qwen2VLForConditionalGeneration"):
        check_architecture(tmp_path)


def test_text_and_projector_files(vl_export):
    _, files = vl_export
    text_meta, text_tensors = metadata(files.text)
    assert text_meta["general.architecture"] == "llama"
    assert text_meta["llama.block_count"] == 30
    assert text_meta["llama.vocab_size"] == 49192  # SmolLM2's 49152 + SmolVLM's 40 special tokens
    assert not any(name.startswith(("v.", "mm.")) for name in text_tensors)
    proj_meta, proj_tensors = metadata(files.mmproj)
    assert proj_meta["general.architecture"] == "clip"
    assert proj_meta["clip.projector_type"] == "idefics3"
    assert proj_meta["clip.vision.image_size"] == IMAGE_SIZE
    assert proj_meta["clip.vision.patch_size"] == PATCH_SIZE
    assert proj_meta["clip.vision.block_count"] == VISION["num_hidden_layers"]
    assert proj_meta["clip.vision.preproc_image_size"] == LONGEST_EDGE
    assert proj_meta["clip.vision.projection_dim"] == 576
    assert proj_tensors["mm.model.fc.weight"] == "F16"
    assert proj_tensors["v.position_embd.weight"] == "F32"
    assert not any(name.startswith("blk.") for name in proj_tensors)


def test_llama_cpp_projector_matches_transformers(mtmd, vl_export, pictures):
    from dlmbuild.vision.smoke import projector_error

    merged, files = vl_export
    assert projector_error(files, merged, [pictures["red-circle"]]) < 2e-3


def test_llama_cpp_answers_the_trained_question_like_transformers(mtmd, vl_export, pictures):
    from dlmbuild.vision.smoke import smoke_vl

    merged, files = vl_export
    for name, spec in PICTURES.items():
        result = smoke_vl(files, merged, QUESTION, [pictures[name]])
        assert result.prompt_matches and result.tokens == result.reference
        assert result.text.strip() == spec["answer"], (name, result.text)


def test_untrained_base_matches_for_sixteen_tokens(mtmd, toolchain, tiny_vlm, pictures, tmp_path):
    """The trained answers are short and confident; the base's rambling answer is the stricter
    token-for-token check."""
    from dlmbuild.vision.smoke import TOKENS, smoke_vl

    files = convert_vl(toolchain, tiny_vlm, tmp_path / "gguf", name="smolvlm-tiny")
    result = smoke_vl(files, tiny_vlm, "Describe the image.", [pictures["blue-square"]])
    assert len(result.tokens) == TOKENS and result.tokens == result.reference
