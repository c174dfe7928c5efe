"""dlmbuild.cli.routing: which adapters answer a prompt, fixed by the command line or left to
the gate, and the one-line refusals of what cannot be used, before any model is loaded."""

from __future__ import annotations

import pytest

from dlmbuild.cli.routing import fixed_weights
from dlmbuild.errors import DlmError, UsageError
from dlmbuild.project import Project

TWO = "training:\n  adapters: [knowledge, tone]\n"
GATED = "training:\n  adapters: [knowledge, tone]\n  gate:\n    enabled: true\n"


@pytest.fixture
def project_of(write_doc, tmp_path, monkeypatch):
    monkeypatch.setenv("DLM_HOME", str(tmp_path / "home"))

    def open_with(extra: str = "") -> Project:
        return Project.open(write_doc("Some shared prose for both lanes.\n", extra))

    return open_with


def refusal(project, adapter=None, mix=None, kind=UsageError) -> str:
    with pytest.raises(kind) as info:
        fixed_weights(project, adapter, mix)
    message = str(info.value)
    assert info.value.exit_code == 2 and "\n" not in message, message
    return message


# -- fixed_weights --------------------------------------------------------------------------

def test_the_only_adapter_answers_alone(project_of):
    assert fixed_weights(project_of(), None, None) == {"default": 1.0}
    assert fixed_weights(project_of(), "default", None) == {"default": 1.0}


def test_adapter_names_one_adapter_at_full_weight_even_with_the_gate_on(project_of):
    assert fixed_weights(project_of(TWO), "tone", None) == {"tone": 1.0}
    assert fixed_weights(project_of(GATED), "knowledge", None) == {"knowledge": 1.0}


def test_an_unknown_adapter_suggests_the_closest(project_of):
    message = refusal(project_of(TWO), adapter="tnoe")
    assert message == "unknown adapter 'tnoe' (did you mean 'tone'?); doc.dlm declares: knowledge, tone"


def test_adapter_mix_gives_its_weights_in_order(project_of):
    assert fixed_weights(project_of(TWO), None, "knowledge:0.7,tone:0.3") == {"knowledge": 0.7, "tone": 0.3}
    assert list(fixed_weights(project_of(GATED), None, "tone:0.2, knowledge:0.8")) == ["tone", "knowledge"]
    assert fixed_weights(project_of(TWO), None, "tone") == {"tone": 1.0}  # a bare name is weight 1


@pytest.mark.parametrize(("mix", "expected"), [
    ("knowledge=0.7,tone=0.3", "--adapter-mix: cannot read 'knowledge=0.7'; write name:weight[,name:weight...]"),
    ("knowledge:0.7,", "--adapter-mix: cannot read ''; write name:weight[,name:weight...]"),
    ("knowledge:1.2.3", "--adapter-mix: '1.2.3' is not a number"),
    ("tone:0.5,tone:0.5", "--adapter-mix names an adapter twice"),
])
def test_an_unreadable_mix_is_one_line(project_of, mix, expected):
    assert refusal(project_of(TWO), mix=mix) == expected


def test_a_mix_naming_an_unknown_adapter_suggests_the_closest(project_of):
    message = refusal(project_of(TWO), mix="knowledge:0.7,tnoe:0.3", kind=DlmError)
    assert "unknown adapter 'tnoe' (did you mean 'tone'?)" in message


def test_adapter_and_mix_together_are_refused(project_of):
    assert refusal(project_of(GATED), adapter="tone", mix="knowledge:1") == "use --adapter or --adapter-mix, not both"


def test_with_the_gate_on_and_nothing_chosen_the_gate_decides(project_of):
    assert fixed_weights(project_of(GATED), None, None) is None


def test_with_the_gate_off_and_nothing_chosen_the_user_must_choose(project_of):
    message = refusal(project_of(TWO))
    assert "choose one with --adapter NAME or mix them with --adapter-mix" in message
    assert "set training.gate.enabled: true" in message  # and how to let the gate choose


# -- through dlm prompt --------------------------------------------------------------------

@pytest.fixture
def no_model(monkeypatch):
    """Fail loudly if anything resolves the base, loads a model or builds the gate: every
    refusal here must come first."""
    def forbidden(*args, **kwargs):
        raise AssertionError("a refusal must come before any model is loaded")

    monkeypatch.setattr(Project, "base", forbidden)
    monkeypatch.setattr("dlmbuild.infer.session.ChatSession.open", forbidden)
    monkeypatch.setattr("dlmbuild.cli.routing.open_gate", forbidden)


@pytest.mark.parametrize("gate", ["false", "true"], ids=["gate-off", "gate-on"])
def test_prompt_with_an_unknown_adapter_exits_2_in_one_line(write_doc, run_dlm, tmp_path, monkeypatch, no_model, gate):
    """``--adapter nope`` on a two-adapter document: refused by name, with the closest one."""
    monkeypatch.setenv("DLM_HOME", str(tmp_path / "home"))
    doc = write_doc("Some shared prose for both lanes.\n", f"training:\n  adapters: [notes, tone]\n  gate:\n    enabled: {gate}\n")
    result = run_dlm("prompt", doc, "hi", "--adapter", "nope")
    assert result.code == 2, result.err
    lines = result.err.strip().splitlines()
    assert lines == ["dlm: unknown adapter 'nope' (did you mean 'notes'?); doc.dlm declares: notes, tone"], result.err
    assert result.out == ""


def test_prompt_with_an_unreadable_mix_or_no_choice_exits_2_in_one_line(write_doc, run_dlm, tmp_path, monkeypatch, no_model):
    monkeypatch.setenv("DLM_HOME", str(tmp_path / "home"))
    doc = write_doc("Some shared prose for both lanes.\n", TWO)
    bad_mix = run_dlm("prompt", doc, "hi", "--adapter-mix", "knowledge=1")
    unchosen = run_dlm("prompt", doc, "hi")
    for result, words in ((bad_mix, "--adapter-mix: cannot read 'knowledge=1'"), (unchosen, "--adapter NAME")):
        assert result.code == 2 and result.err.strip().count("\n") == 0 and words in result.err, result.err
