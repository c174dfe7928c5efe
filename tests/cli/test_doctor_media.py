"""The vision plan's image-token count, from the processor settings a base ships."""

from __future__ import annotations

import json

from dlmbuild.cli.doctor_media import image_tokens


def _base(tmp_path, longest: int, tile: int, splitting: bool = True, seq: int = 64):
    (tmp_path / "processor_config.json").write_text(json.dumps({"image_seq_len": seq}))
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(
        {"size": {"longest_edge": longest}, "max_image_size": {"longest_edge": tile}, "do_image_splitting": splitting}))
    return tmp_path


def test_smolvlm_images_are_tiles_plus_a_global_view(tmp_path):
    assert image_tokens(_base(tmp_path, 2048, 512)) == 64 * (16 + 1)  # SmolVLM-256M: 4x4 tiles + global
    assert image_tokens(_base(tmp_path, 128, 64, seq=4)) == 4 * (4 + 1)  # the tests' tiny base: 20
    assert image_tokens(_base(tmp_path, 2048, 512, splitting=False)) == 64
    assert image_tokens(_base(tmp_path, 512, 512)) == 64  # one tile: no split


def test_another_processor_family_is_unknown(tmp_path):
    (tmp_path / "preprocessor_config.json").write_text(json.dumps({"min_pixels": 3136}))
    assert image_tokens(tmp_path) is None


def test_paligemma_images_are_one_fixed_block(tmp_path):
    (tmp_path / "preprocessor_config.json").write_text(json.dumps({"image_seq_length": 256, "size": {"height": 224, "width": 224}}))
    assert image_tokens(tmp_path) == 256  # paligemma-3b-mix-224: (224 / 14)^2


def test_settings_nested_in_processor_config_count_too(tmp_path):
    (tmp_path / "processor_config.json").write_text(json.dumps({"image_processor": {"image_seq_length": 16},
                                                                "processor_class": "PaliGemmaProcessor"}))
    assert image_tokens(tmp_path) == 16  # how transformers 5 saves a processor
