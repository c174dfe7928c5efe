"""``:gate``: where the learned router sits in the graph, and what its key holds.

Nothing is trained here: the gate's place (only on two or more adapters with the gate on, one
dependency, ``:gguf-base``, part of ``:train``) and its key are properties of the graph. The key
is the point: the gate learns from the routed rows and the base, never from the adapters'
weights, so retraining an adapter, or changing how its output is used (temperature, top-k,
fallback), must leave it cached; an edit to a routed section or a training knob must not."""

from __future__ import annotations

import pytest

from dlmbuild.cli.common import open_project
from dlmbuild.engine.hashing import hash_json
from dlmbuild.rules.gate import NAME, OFF
from tests.rules.conftest import age, notes_project

DOC = """---
dlm_id: 01JD5ZQ8V7W9X2Y3Z4A5B6C7G1
base_model: ./base
training:
  sequence_len: 64
  lora_r: 8
  learning_rate: 0.0002
  sources:
    - {path: notes, adapter: knowledge}
  adapters:
    knowledge: {lora_r: 8, learning_rate: 0.0001}
    tone: {}
  gate:
    enabled: true
    hidden_size: 16
    temperature: 1.0
    top_k: 1
---
the paragraph is a note of value shared by both lanes

::instruction#knowledge::
### Q
what is the fact
### A
the fact is a value

::prose#tone::
answer every question warmly and in one short sentence
"""


@pytest.fixture
def gate_doc(tmp_path, monkeypatch):
    return notes_project(tmp_path, monkeypatch, DOC, "the note is a fact about the item\n")


def edit(doc, old: str, new: str) -> None:
    text = doc.read_text()
    assert old in text, old
    doc.write_text(text.replace(old, new, 1))
    age(doc.parent)


def components(graph, name: str) -> dict:
    """A target's own key components, as the engine hashes them (its deps' outputs aside)."""
    target = graph.targets[name]
    return {"rule": target.rule_id, "config": target.config, "inputs": target.inputs(), "toolchain": target.toolchain()}


def gate_key(doc) -> str:
    """Everything the gate's action key is made of: its own components, and those of its one
    dependency, ``:gguf-base``, whose output hash enters the key (same components, same output)."""
    _, graph = open_project(doc)
    assert graph.targets[NAME].deps == (":gguf-base",)
    return hash_json({"gate": components(graph, NAME), "gguf-base": components(graph, ":gguf-base")})


def rows(doc):
    """The rows ``:gate`` would train on, as its action reads them."""
    from dlmbuild.gate.rows import gate_rows
    from dlmbuild.rules.gate import sections

    project, _ = open_project(doc)
    return gate_rows(sections(project))


# -- place in the graph -----------------------------------------------------------------------

def test_with_the_gate_on_it_is_buildable_depends_only_on_the_base_gguf_and_joins_train(gate_doc):
    _, graph = open_project(gate_doc)
    target = graph.targets[NAME]
    assert target.buildable and target.why_unavailable == "" and target.heavy
    assert target.deps == (":gguf-base",)  # never an adapter: a retrained adapter cannot dirty it
    assert not any(dep.startswith((":train", ":prefer", ":data")) for dep in graph.closure([NAME]))
    assert NAME in graph.resolve([":train"])
    assert graph.unavailable(graph.resolve([":train"])) == [] and graph.unavailable([NAME]) == []


def test_with_the_gate_off_it_is_unavailable_naming_the_setting_and_not_in_train(gate_doc):
    edit(gate_doc, "    enabled: true\n", "    enabled: false\n")
    _, graph = open_project(gate_doc)
    assert NAME in graph.targets and not graph.targets[NAME].buildable
    assert graph.unavailable([NAME]) == [OFF] and "training.gate.enabled" in OFF
    assert NAME not in graph.resolve([":train"])
    assert graph.unavailable(graph.resolve([":train"])) == []  # training the adapters does not need the gate


def test_building_the_gate_while_it_is_off_is_refused_in_one_line(gate_doc, run_dlm):
    edit(gate_doc, "    enabled: true\n", "    enabled: false\n")
    result = run_dlm("build", gate_doc, NAME)
    assert result.code == 2
    assert result.err.strip() == f"dlm: {OFF}"


def test_the_gate_inputs_name_every_routed_section_and_source_with_its_adapters(gate_doc):
    _, graph = open_project(gate_doc)
    inputs = graph.targets[NAME].inputs()
    sections = sorted(v for k, v in inputs.items() if k.startswith("section:"))
    files = [v for k, v in inputs.items() if k.startswith("file:")]
    assert sections == ["knowledge", "knowledge,tone", "tone"]
    assert len(files) == 1 and files[0].endswith(":knowledge")  # content hash, then routing


# -- the key ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("old", "new"), [
    ("    knowledge: {lora_r: 8, learning_rate: 0.0001}\n", "    knowledge: {lora_r: 32, learning_rate: 0.0001}\n"),
    ("    knowledge: {lora_r: 8, learning_rate: 0.0001}\n", "    knowledge: {lora_r: 8, learning_rate: 0.003}\n"),
    ("    tone: {}\n", "    tone: {lora_r: 4, lora_alpha: 64}\n"),
    ("  lora_r: 8\n  learning_rate: 0.0002\n", "  lora_r: 16\n  learning_rate: 0.0005\n"),
    ("    temperature: 1.0\n", "    temperature: 3.0\n"),
    ("    top_k: 1\n", "    top_k: 2\n"),
    ("    top_k: 1\n", "    top_k: 1\n    fallback: tone\n    min_confidence: 0.6\n"),
], ids=["adapter-lora_r", "adapter-learning_rate", "other-adapter-knobs", "training-lora_r-and-lr", "temperature", "top_k",
        "fallback"])
def test_adapter_knobs_and_use_time_settings_leave_the_gate_key_alone(gate_doc, old, new):
    """Retraining an adapter, or shaping how the gate's output is used, retrains no gate."""
    before = gate_key(gate_doc)
    edit(gate_doc, old, new)
    assert gate_key(gate_doc) == before


def test_an_adapter_knob_does_reach_that_adapters_training(gate_doc):
    """The control for the test above: the same edit does dirty the adapter, so the gate's
    indifference is not an edit that went nowhere."""
    _, graph = open_project(gate_doc)
    before = graph.targets[":train-knowledge"].config
    edit(gate_doc, "knowledge: {lora_r: 8,", "knowledge: {lora_r: 32,")
    _, graph = open_project(gate_doc)
    assert graph.targets[":train-knowledge"].config != before


@pytest.mark.parametrize(("old", "new"), [
    ("what is the fact\n", "what is the fact about the ferry\n"),  # a routed question
    ("answer every question warmly", "answer every question coldly"),  # a routed prose section
    ("::prose#tone::\n", "::prose#knowledge::\n"),  # the same text, routed to another adapter
    ("the paragraph is a note of value shared by both lanes\n", ""),  # a shared section removed
    ("    hidden_size: 16\n", "    hidden_size: 32\n"),
    ("    hidden_size: 16\n", "    hidden_size: 16\n    steps: 50\n"),
    ("    hidden_size: 16\n", "    hidden_size: 16\n    learning_rate: 0.01\n"),
], ids=["question", "prose", "rerouted", "shared-removed", "hidden_size", "steps", "gate-learning_rate"])
def test_routed_text_and_gate_training_knobs_change_the_gate_key(gate_doc, old, new):
    before = gate_key(gate_doc)
    edit(gate_doc, old, new)
    assert gate_key(gate_doc) != before


def test_editing_a_routed_source_file_changes_the_gate_key(gate_doc):
    before = gate_key(gate_doc)
    (gate_doc.parent / "notes" / "a.md").write_text("the note is another fact entirely\n")
    age(gate_doc.parent)
    assert gate_key(gate_doc) != before



def test_rerouting_one_of_two_identical_source_files_changes_the_gate_key(gate_doc):
    """Two files with the same text, routed to different adapters, are two gate rows (one per
    label); re-routing one of them changes the rows, so it must change the key."""
    (gate_doc.parent / "style").mkdir()
    (gate_doc.parent / "style" / "b.md").write_text("the note is a fact about the item\n")  # same bytes as notes/a.md
    edit(gate_doc, "    - {path: notes, adapter: knowledge}\n", "    - {path: notes, adapter: knowledge}\n    - {path: style, adapter: tone}\n")
    before, rows_before = gate_key(gate_doc), rows(gate_doc)
    edit(gate_doc, "{path: notes, adapter: knowledge}", "{path: notes, adapter: tone}")
    assert rows(gate_doc) != rows_before  # what the gate would learn from did change
    assert gate_key(gate_doc) != before
