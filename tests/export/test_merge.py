"""The merged folder's chat template: it defaults to the document's system prompt."""

from __future__ import annotations

import json

import pytest

from dlmbuild.export.merge import install_template, stored_dtype, with_default_system
from dlmbuild.train.tokenizer import BaseTokenizer


@pytest.mark.parametrize("system", ["You are a tutor.", 'Quotes " and \\ backslashes\nand {{ braces }} stay text'])
def test_default_system_renders_like_training(tiny_llama, system):
    tokenizer = BaseTokenizer(tiny_llama)
    patched = with_default_system(tokenizer.chat_template, system)
    user = [{"role": "user", "content": "Who invented Kelvarro?"}]
    as_trained = tokenizer.render_chat([{"role": "system", "content": system}] + user, add_generation_prompt=True)
    assert tokenizer.render_chat(user, add_generation_prompt=True, template=patched) == as_trained
    other = [{"role": "system", "content": "Be brief."}] + user  # a client's own system message still wins
    assert tokenizer.render_chat(other, add_generation_prompt=True, template=patched) == tokenizer.render_chat(other, add_generation_prompt=True)


def test_install_template_updates_tokenizer_config_too(tmp_path):
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"chat_template": "old", "eos_token": "</s>"}))
    install_template(tmp_path, "new")
    assert (tmp_path / "chat_template.jinja").read_text() == "new"
    assert json.loads((tmp_path / "tokenizer_config.json").read_text()) == {"chat_template": "new", "eos_token": "</s>"}


def test_stored_dtype_reads_the_safetensors_header(tiny_llama):
    assert stored_dtype(tiny_llama) == "float32"
