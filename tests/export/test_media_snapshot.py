"""The media snapshot's README code follows the base's prompt format: a chat turn where the
processor has a chat template, PaliGemma's image-then-question prefix where it has none."""

from __future__ import annotations

import json

from dlmbuild.export.media_snapshot import folder_has_chat_template, readme


def test_a_chat_template_is_found_in_either_file_a_processor_saves(tmp_path):
    assert not folder_has_chat_template(tmp_path)
    (tmp_path / "processor_config.json").write_text(json.dumps({"image_seq_length": 256}))
    assert not folder_has_chat_template(tmp_path)
    (tmp_path / "processor_config.json").write_text(json.dumps({"chat_template": "{{ messages }}"}))
    assert folder_has_chat_template(tmp_path)
    (tmp_path / "processor_config.json").unlink()
    (tmp_path / "chat_template.jinja").write_text("{{ messages }}")
    assert folder_has_chat_template(tmp_path)


def test_the_vision_readme_prompts_as_the_base_was_trained():
    chat = readme("shapes", "smolvlm-256m", None, "vision", ["default"], None, chat_template=True)
    prefix = readme("shapes", "paligemma-3b", "google/paligemma-3b-mix-224", "vision", ["default"], None, chat_template=False)
    assert "processor.apply_chat_template(messages, add_generation_prompt=True)" in chat
    assert "apply_chat_template" not in prefix
    assert 'processor(text=["<image>What is in the image?"]' in prefix and 'inputs.pop("labels", None)' in prefix
    assert 'from_pretrained("google/paligemma-3b-mix-224")' in prefix
