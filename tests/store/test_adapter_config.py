"""The one adapter_config.json writer: the same adapter gives the same bytes whatever order
peft wrote target_modules in and wherever the base lives."""

from __future__ import annotations

import json

from dlmbuild.store.adapter_config import adapter_config_text, stabilize_adapter_folder

PEFT_SAVED = {"r": 4, "lora_alpha": 8, "target_modules": ["v_proj", "q_proj", "k_proj"], "peft_type": "LORA",
              "base_model_name_or_path": "/home/someone/.cache/dlm/bases/x"}


def test_text_is_sorted_names_the_base_key_and_ends_in_one_newline():
    text = adapter_config_text(PEFT_SAVED, "smollm2-135m")
    assert text == (
        '{\n  "base_model_name_or_path": "smollm2-135m",\n  "lora_alpha": 8,\n  "peft_type": "LORA",\n  "r": 4,\n'
        '  "target_modules": [\n    "k_proj",\n    "q_proj",\n    "v_proj"\n  ]\n}\n'
    )
    assert PEFT_SAVED["target_modules"] == ["v_proj", "q_proj", "k_proj"]  # the input is not modified


def test_the_same_adapter_gives_the_same_bytes_from_either_caller():
    """Training passes the modules it wrapped; the mix path lets the config's own list stand."""
    shuffled = PEFT_SAVED | {"target_modules": ["k_proj", "v_proj", "q_proj"], "base_model_name_or_path": "/elsewhere"}
    from_training = adapter_config_text(shuffled, "./base", ("q_proj", "v_proj", "k_proj"))
    from_mix = adapter_config_text(PEFT_SAVED, "./base")
    assert from_training == from_mix


def test_a_regex_target_modules_is_kept():
    text = adapter_config_text(PEFT_SAVED | {"target_modules": ".*proj"}, "k")
    assert json.loads(text)["target_modules"] == ".*proj"


def test_folder_is_rewritten_in_place_and_the_model_card_removed(tmp_path):
    (tmp_path / "adapter_config.json").write_text(json.dumps(PEFT_SAVED))
    (tmp_path / "adapter_config.json").chmod(0o644)
    (tmp_path / "README.md").write_text("model card naming /home/someone\n")
    stabilize_adapter_folder(tmp_path, "hf:org/name@v1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter_config.json"]
    written = (tmp_path / "adapter_config.json").read_text(encoding="utf-8")
    assert written == adapter_config_text(PEFT_SAVED, "hf:org/name@v1")
    assert (tmp_path / "adapter_config.json").stat().st_mode & 0o777 == 0o644
