"""The transformers-free tokenizer and chat renderer must agree with transformers exactly,
since training rows, `dlm prompt` and exports all depend on it. Runs on the real embedded base."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dlmbuild.train.tokenizer import BaseTokenizer

pytestmark = pytest.mark.slow
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def embedded(embedded_base):
    return embedded_base


@pytest.mark.parametrize("system", [None, "You are terse."])
def test_chat_rendering_and_ids_match_transformers(embedded, system):
    from transformers import AutoTokenizer

    base, _ = embedded
    ours = BaseTokenizer(base.path)
    theirs = AutoTokenizer.from_pretrained(str(base.path))
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": "Who invented Kelvarro?"},
        {"role": "assistant", "content": "Ilsa Drummond, in 1958."},
    ]
    for msgs, gen in ((messages[:-1], True), (messages, False)):
        expected = theirs.apply_chat_template(msgs, tokenize=False, add_generation_prompt=gen)
        assert ours.render_chat(msgs, add_generation_prompt=gen) == expected
        assert ours.encode(expected) == theirs(expected, add_special_tokens=False)["input_ids"]
    assert ours.eos_token_id == theirs.eos_token_id == 2


def test_tutor_example_tokenizes_on_the_embedded_base(embedded_home, tmp_path, monkeypatch, capsys):
    from dlmbuild.cli.build import run_build

    home = embedded_home
    work = tmp_path / "examples"
    shutil.copytree(EXAMPLES, work)
    (work / "dlm.lock").unlink(missing_ok=True)
    monkeypatch.setenv("DLM_HOME", str(home))
    assert run_build(work / "tutor.dlm", [":tokenize"]) == 0
    assert "2 sections, 2 tokenized now" in capsys.readouterr().err
    assert run_build(work / "tutor.dlm", [":tokenize"]) == 0
    assert "cached  :tokenize" in capsys.readouterr().out
