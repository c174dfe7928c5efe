"""``:prefs-<adapter>`` and ``:prefer-<adapter>`` on a tiny random-init Llama: the phase joins
``:train``, its adapter becomes current, a triple edit retrains only the phase, an instruction
edit retrains both, ``--phase`` and ``--no-mined`` pick what trains, and refusals are one line."""

from __future__ import annotations

import json

import pytest

from dlmbuild.cli.build import run_build
from dlmbuild.cli.common import make_engine, open_project
from dlmbuild.store.versions import AdapterVersions
from tests.rules.conftest import age

torch = pytest.importorskip("torch")

PREFS = """
::preference::
### Prompt
what is the item
### Chosen
the item is of value
### Rejected
a note

::preference::
<!-- auto-mined judge="self" run="r1" -->
### Prompt
what is the fact
### Chosen
the fact is a value
### Rejected
what
"""


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Every test here trains with one torch thread (tests/rules/conftest.py)."""


@pytest.fixture
def doc(trainable_dir):
    path = trainable_dir / "doc.dlm"
    text = path.read_text().replace("  sequence_len: 64\n", "  sequence_len: 64\n  preference:\n    enabled: true\n    steps: 3\n")
    path.write_text(text + PREFS)
    age(trainable_dir)
    return path


def statuses(doc, targets=(":train",), **options):
    project, graph = open_project(doc, materialize_base=True, options=options)
    return {r.name: r.status for r in make_engine(project, graph, quiet=True).run(graph.resolve(list(targets)))}


def run_build_results(doc):
    """The results of a (cached) build of the default target, with their output folders."""
    from dlmbuild.cli.common import make_engine

    project, graph = open_project(doc)
    return make_engine(project, graph, quiet=True).run(graph.resolve([":train"]))


def edit(doc, old, new):
    doc.write_text(doc.read_text().replace(old, new))
    age(doc.parent)


def test_the_phase_joins_train_and_its_adapter_is_current(doc):
    assert run_build(doc, [], quiet=True) == 0
    project, graph = open_project(doc)
    assert ":prefer-default" in graph.resolve([":train"])
    versions = AdapterVersions(project.layout.adapters, "default")
    assert [v.label for v in versions.all()] == ["v0001"]  # the SFT output never became current
    current = versions.current()
    summary = json.loads((current.path / "dlm-train.json").read_text())
    assert summary["phase"] == "preference" and summary["preference"]["method"] == "dpo"
    assert summary["preference"]["pairs"] == 2 and summary["plan"]["kind"] == "lora"  # export reads the kind from here
    # the phase probes its adapter with the SFT adapter's probe set (what dlm verify compares across classes)
    from dlmbuild.train.probes import read_probes

    sft = [r for r in run_build_results(doc) if r.name == ":train-default"][0]
    probed, sft_probed = read_probes(current.path), read_probes(sft.out_dir)
    assert probed and set(probed) == set(sft_probed)
    assert all(probed[p]["input_ids"] == sft_probed[p]["input_ids"] for p in probed)


def test_a_triple_edit_retrains_only_the_phase_and_an_instruction_edit_both(doc):
    run_build(doc, [], quiet=True)
    edit(doc, "### Rejected\na note", "### Rejected\na note of what")
    status = statuses(doc)
    assert (status[":train-default"], status[":prefs-default"], status[":prefer-default"]) == ("cached", "built", "built")
    edit(doc, "the fact is a value\n\n::prose::", "the fact is the value\n\n::prose::")
    status = statuses(doc)
    assert (status[":train-default"], status[":prefer-default"]) == ("built", "built")


def test_phase_sft_and_no_mined(doc, run_dlm, monkeypatch):
    monkeypatch.chdir(doc.parent)
    result = run_dlm("train", "doc.dlm", "--phase", "sft")
    assert result.code == 0, result.err
    project, _ = open_project(doc)
    versions = AdapterVersions(project.layout.adapters, "default")
    assert "phase" not in json.loads((versions.current().path / "dlm-train.json").read_text())
    result = run_dlm("train", "doc.dlm", "--no-mined")
    assert result.code == 0, result.err
    assert ":prefs-default: 1 preference pairs (0 mined)" in result.err
    assert json.loads((versions.current().path / "dlm-train.json").read_text())["preference"]["pairs"] == 1


def test_refusals_are_one_located_line(doc, run_dlm, monkeypatch):
    monkeypatch.chdir(doc.parent)
    result = run_dlm("train", "doc.dlm", "--phase", "prefernce")
    assert (result.code, result.err.strip()) == (2, "dlm: unknown --phase 'prefernce' (did you mean 'preference'?); choose from all, sft, preference")
    text = doc.read_text()
    doc.write_text(text[: text.index("\n::preference::\n### Prompt\nwhat is the item")] + "\n")
    age(doc.parent)
    result = run_dlm("train", "doc.dlm", "--phase", "preference")
    assert (result.code, result.err.strip()) == (2, "doc.dlm:1:1: --phase preference: adapter 'default' has no ::preference:: triples")
    doc.write_text(text.replace("    enabled: true\n", "    enabled: false\n"))
    age(doc.parent)
    result = run_dlm("train", "doc.dlm", "--phase", "preference")
    assert result.code == 2 and "--phase preference: preference training is off for adapter 'default'" in result.err
    doc.write_text(text.replace("### Rejected\na note\n", "### Rejected\nthe item is of value\n"))
    age(doc.parent)
    result = run_dlm("train", "doc.dlm")
    assert result.code == 2 and result.err.strip().endswith("'### Rejected' is the same as '### Chosen': a preference needs two different answers")
    doc.write_text(text.replace("method", "method").replace("    steps: 3\n", "    steps: 3\n    method: ppo\n"))
    age(doc.parent)
    result = run_dlm("train", "doc.dlm")
    assert result.code == 2 and "training.preference.method: input should be 'dpo' or 'orpo'" in result.err


def test_doctor_shows_the_phase_plan(doc, run_dlm, monkeypatch):
    monkeypatch.chdir(doc.parent)
    result = run_dlm("doctor", "doc.dlm")
    assert result.code == 0, result.err
    assert ("default then DPO beta 0.1 on 2 pairs (1 hand-written, 1 mined), 3 epochs = 3 steps, lr 0.0001, "
            "reference :train-default (frozen)") in result.out
    report = json.loads(run_dlm("doctor", "doc.dlm", "--json").out)
    assert report["document"]["adapters"]["default"]["preference"]["steps"] == 3
