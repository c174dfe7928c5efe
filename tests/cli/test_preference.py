"""``dlm preference mine|list|apply|revert`` on a tiny random-init Llama trained in the test,
with an external command judge (it prefers shorter answers): staging, apply after the
instruction section, the phase trained on the mined triples, ``--no-mined``, revert to the
original bytes, and the refusals."""

from __future__ import annotations

import json
import sys

import pytest

from tests.rules.conftest import DOC, trainable_project

torch = pytest.importorskip("torch")

JUDGE = "import json,sys\nd=json.load(sys.stdin)\nfor c in d['candidates']: print(-len(c.split()))\n"


@pytest.fixture
def project(tmp_path, monkeypatch):
    text = DOC.replace("  sequence_len: 64\n", "  sequence_len: 64\n  preference:\n    enabled: true\n    steps: 2\n")
    root = trainable_project(tmp_path, monkeypatch, text, files={"judge.py": JUDGE})
    return root


def judge_arg(project) -> str:
    return f"cli:{sys.executable} {project / 'judge.py'}"


def test_mining_before_training_says_to_build(project, run_dlm):
    result = run_dlm("preference", "mine", "proj/doc.dlm")
    assert (result.code, result.err.strip()) == (2, "dlm: adapter 'default' has not been trained yet; run 'dlm build proj/doc.dlm'")


@pytest.mark.parametrize(("args", "message"), [
    (["--samples", "1"], "--samples 1: mining compares answers; sample at least 2"),
    (["--temp", "0"], "--temp 0: greedy answers are all the same; give a temperature above 0"),
    (["--judge", "hf:proj/base"], "judge hf:proj/base: not a sequence-classification (reward) model (its architectures: LlamaForCausalLM)"),
    (["--judge", "slef"], "unknown judge 'slef' (did you mean 'self'?); use one of: self, hf:PATH, cli:COMMAND"),
])
def test_bad_options_are_one_line(project, run_dlm, args, message):
    result = run_dlm("preference", "mine", "proj/doc.dlm", *args)
    assert (result.code, result.err.strip(), result.out) == (2, f"dlm: {message}", "")


def test_mine_stage_apply_train_and_revert(project, run_dlm, tmp_path):
    assert run_dlm("build", "proj/doc.dlm").code == 0
    original = (project / "doc.dlm").read_bytes()
    mined = run_dlm("preference", "mine", "proj/doc.dlm", "--judge", judge_arg(project), "--samples", "3",
                    "--threshold", "0", "--max-new-tokens", "8", "--seed", "1")
    assert mined.code == 0, mined.err
    assert mined.out.startswith("mine: 1 prompt(s) x 3 sample(s)") and "staged 1 triple(s)" in mined.out
    assert (project / "doc.dlm").read_bytes() == original
    assert "staged: 1 triple(s)" in run_dlm("preference", "list", "proj/doc.dlm").out

    assert run_dlm("preference", "apply", "proj/doc.dlm").code == 0
    text = (project / "doc.dlm").read_text()
    at = text.index("::preference::\n<!-- auto-mined judge=\"cli:")
    assert text.index("the fact is a value") < at < text.index("::prose::")  # right after its instruction section
    listed = json.loads(run_dlm("preference", "list", "proj/doc.dlm", "--json").out)
    assert listed["staged"] is None and listed["applied"][0]["triples"] == 1

    built = run_dlm("build", "proj/doc.dlm")
    assert built.code == 0, built.err
    assert ":prefs-default: 1 preference pairs (1 mined)" in built.err
    assert ":prefer-default: final loss" in built.err
    no_mined = run_dlm("train", "proj/doc.dlm", "--phase", "preference", "--no-mined")
    assert (no_mined.code, no_mined.err.strip()) == (
        2, "proj/doc.dlm:1:1: --phase preference: adapter 'default' has no hand-written ::preference:: triples "
           "(--no-mined leaves the mined ones out)")

    reverted = run_dlm("preference", "revert", "proj/doc.dlm")
    assert reverted.code == 0 and "removed 1 mined section(s)" in reverted.out
    assert (project / "doc.dlm").read_bytes() == original


def test_apply_refuses_an_edited_document_and_a_failing_judge_writes_nothing(project, run_dlm):
    assert run_dlm("build", "proj/doc.dlm").code == 0
    ok = run_dlm("preference", "mine", "proj/doc.dlm", "--judge", judge_arg(project), "--threshold", "0", "--max-new-tokens", "8")
    assert ok.code == 0, ok.err
    with open(project / "doc.dlm", "a") as f:
        f.write("\nmore of the note\n")
    edited = (project / "doc.dlm").read_bytes()
    result = run_dlm("preference", "apply", "proj/doc.dlm")
    assert (result.code, result.err.strip()) == (2, "dlm: proj/doc.dlm changed since these triples were staged; run 'dlm preference mine' again")
    (project / "bad.py").write_text("import sys\nsys.exit(5)\n")
    result = run_dlm("preference", "mine", "proj/doc.dlm", "--judge", f"cli:{sys.executable} {project / 'bad.py'}", "--apply",
                     "--max-new-tokens", "8")
    assert result.code == 1 and result.err.strip().endswith("failed (exit 5); nothing was written")
    assert (project / "doc.dlm").read_bytes() == edited
