"""``dlm prompt``, ``dlm repl``, ``dlm train`` and ``dlm doctor`` on a tiny random-init Llama."""

from __future__ import annotations

import io
import json

import pytest

from tests.rules.conftest import DOC, age, make_trainable_base

torch = pytest.importorskip("torch")


@pytest.fixture
def trained(tmp_path, monkeypatch):
    monkeypatch.setenv("DLM_THREADS", "1")
    root = tmp_path / "proj"
    make_trainable_base(root / "base")
    (root / "notes").mkdir()
    (root / "notes" / "a.md").write_text("the note is a fact\n")
    (root / "doc.dlm").write_text(DOC)
    age(root)
    monkeypatch.setenv("DLM_HOME", str(tmp_path / "home"))
    return root / "doc.dlm"


def test_prompt_before_training_says_which_command_to_run(trained, run_dlm):
    result = run_dlm("prompt", trained, "what is the fact")
    assert result.code == 1
    assert result.err.strip() == f"dlm: adapter 'default' has not been trained yet; run 'dlm train {trained}'"


def test_train_then_prompt_streams_a_repeatable_answer(trained, run_dlm):
    assert run_dlm("train", trained).code == 0
    first = run_dlm("prompt", trained, "what is the fact", "--max-new-tokens", "6", "--seed", "3")
    second = run_dlm("prompt", trained, "what is the fact", "--max-new-tokens", "6", "--seed", "3")
    assert first.code == 0 and first.out == second.out and first.out.strip()
    greedy = run_dlm("prompt", trained, "what is the fact", "--max-new-tokens", "6", "--temp", "0")
    assert greedy.code == 0 and greedy.out.strip()


def test_multi_adapter_documents_need_adapter_and_unknown_names_list_the_declared(trained, run_dlm):
    trained.write_text(trained.read_text().replace("  sequence_len: 64\n", "  sequence_len: 64\n  adapters: [facts, tone]\n"))
    age(trained.parent)
    missing = run_dlm("prompt", trained, "hi")
    assert missing.code == 2 and "declares adapters facts, tone; choose one with --adapter NAME" in missing.err
    unknown = run_dlm("prompt", trained, "hi", "--adapter", "tne")
    assert unknown.code == 2 and unknown.err.strip().endswith("unknown adapter 'tne' (did you mean 'tone'?); doc.dlm declares: facts, tone")


def test_repl_keeps_history_and_handles_slash_commands(trained, run_dlm, monkeypatch):
    assert run_dlm("train", trained).code == 0
    script = "what is the fact\n/temp 0\n/temp hot\n/adapter nope\n/reset\nwho is the user\n/quit\nnever read\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(script))
    result = run_dlm("repl", trained, "--max-new-tokens", "3")
    assert result.code == 0
    assert "(temperature 0)" in result.err
    assert "/temp needs a number between 0 and 2, not 'hot'" in result.err
    assert "unknown adapter 'nope'; doc.dlm declares: default" in result.err
    assert "(history cleared)" in result.err
    assert len([line for line in result.out.splitlines() if line.strip()]) == 2  # two answers, then /quit


def test_doctor_plans_every_adapter(trained, run_dlm):
    assert run_dlm("train", trained).code == 0
    result = run_dlm("doctor", trained, "--json")
    report = json.loads(result.out)
    assert report["schema"] == "dlm.doctor/1"
    plan = report["document"]["adapters"]["default"]
    assert plan["blocks_from"] == "last build" and plan["plan"]["blocks"] == 1
    # the floor of 30 steps, then up to 4x that until every answer is reproduced
    assert (plan["plan"]["check_from"], plan["plan"]["steps"]) == (30, 120) and plan["trainable_params"] > 0
    assert report["machine"]["device"]["device"] == "cpu"


def test_prompt_refuses_an_adapter_trained_on_another_base(trained, run_dlm):
    assert run_dlm("train", trained).code == 0
    import shutil

    shutil.copytree(trained.parent / "base", trained.parent / "base2")
    trained.write_text(trained.read_text().replace("base_model: ./base", "base_model: ./base2"))
    age(trained.parent)
    result = run_dlm("prompt", trained, "what is the fact")
    assert result.code == 1
    assert "was trained on base './base', but doc.dlm now uses './base2'; run 'dlm train" in result.err
