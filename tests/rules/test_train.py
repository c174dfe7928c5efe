"""``:data-<adapter>`` and ``:train-<adapter>`` on a tiny random-init Llama: the real training
path (peft, packing, the loop), versions, replay, isolation between adapters, refusals."""

from __future__ import annotations

import json
import threading

import pytest

from dlmbuild.cli.build import run_build
from dlmbuild.cli.common import open_project
from dlmbuild.engine.lockfile import read_lock
from dlmbuild.store.versions import AdapterVersions
from tests.rules.conftest import age

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Every test here trains with one torch thread (tests/rules/conftest.py)."""


def _versions(doc, name="default"):
    project, _ = open_project(doc)
    return AdapterVersions(project.layout.adapters, name)


def _output(doc, target):
    project, _ = open_project(doc)
    entry = read_lock(doc).targets[target]
    return project.layout.actions / entry.key[:2] / entry.key / "out"


def _edit(doc, old, new):
    doc.write_text(doc.read_text().replace(old, new))
    age(doc.parent)


def test_build_trains_a_standard_peft_adapter_and_publishes_v0001(trainable_dir):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    doc = trainable_dir / "doc.dlm"
    assert run_build(doc, [], quiet=True) == 0
    current = _versions(doc).current()
    assert current is not None and current.label == "v0001"
    config = json.loads((current.path / "adapter_config.json").read_text())
    assert config["target_modules"] == sorted(config["target_modules"])
    assert config["target_modules"] == ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]
    assert config["base_model_name_or_path"] == "./base"
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(trainable_dir / "base"), current.path)
    assert any("lora_A" in name for name, _ in model.named_parameters())
    summary = json.loads((current.path / "dlm-train.json").read_text())
    assert summary["plan"]["steps"] == summary["plan"]["epochs"] * 1 and summary["final_loss"] > 0


def test_noop_rebuild_is_all_cached_and_keeps_the_version(trainable_dir):
    doc = trainable_dir / "doc.dlm"
    run_build(doc, [], quiet=True)
    project, graph = open_project(doc)
    from dlmbuild.cli.common import make_engine

    results = make_engine(project, graph, quiet=True).run(graph.resolve([":train"]))
    assert {r.status for r in results} == {"cached"}
    assert [v.label for v in _versions(doc).all()] == ["v0001"]


def test_two_clean_builds_give_identical_adapter_bytes_and_verify_passes(trainable_dir, tmp_path, monkeypatch):
    from dlmbuild.cli.verify import verify_against

    doc = trainable_dir / "doc.dlm"
    run_build(doc, [], quiet=True)
    first = (_versions(doc).current().path / "adapter_model.safetensors").read_bytes()
    monkeypatch.setenv("DLM_HOME", str(tmp_path / "other-home"))
    run_build(doc, [], quiet=True)
    second = (_versions(doc).current().path / "adapter_model.safetensors").read_bytes()
    assert first == second
    problems, summary = verify_against(doc, read_lock(doc))
    assert problems == [] and "byte for byte (class cpu-" in summary


def test_edit_makes_v0002_replays_the_old_version_and_revert_points_back(trainable_dir):
    doc = trainable_dir / "doc.dlm"
    run_build(doc, [], quiet=True)
    _edit(doc, "the item is of value", "the item is a fact")
    run_build(doc, [], quiet=True)
    data = json.loads((_output(doc, ":data-default") / "data.json").read_text())
    assert data["replay_rows"] == 1 and len(data["replay_sections"]) == 1
    versions = _versions(doc)
    assert versions.current().label == "v0002"
    _edit(doc, "the item is a fact", "the item is of value")
    run_build(doc, [], quiet=True)
    # The original text is back; the replay corpus now also holds the edited version, so the
    # data differ from the first build: a new version, trained on both.
    assert versions.current().label == "v0003"
    assert run_build(doc, [], quiet=True, replay=False) == 0
    data = json.loads((_output(doc, ":data-default") / "data.json").read_text())
    assert data["replay_rows"] == 0
    assert versions.current().label == "v0001"  # same key as the very first build: no new version


def test_an_edit_routed_to_one_adapter_leaves_the_other_cached(trainable_dir):
    doc = trainable_dir / "doc.dlm"
    text = doc.read_text().replace("  sequence_len: 64\n", "  sequence_len: 64\n  adapters: [facts, tone]\n")
    text = text.replace("::prose::\nthe item is of value", "::instruction#tone::\n### Q\nwho is the user\n### A\nthe user is a note")
    doc.write_text(text)
    age(trainable_dir)
    assert run_build(doc, [], quiet=True) == 0
    _edit(doc, "the user is a note", "the user is a fact")
    project, graph = open_project(doc, materialize_base=True)
    from dlmbuild.cli.common import make_engine

    status = {r.name: r.status for r in make_engine(project, graph, quiet=True).run(graph.resolve([":train"]))}
    assert status[":train-facts"] == "cached" and status[":train-tone"] == "built"


def test_nothing_trainable_is_one_clear_failure(trainable_dir, capsys):
    doc = trainable_dir / "doc.dlm"
    doc.write_text("---\ndlm_id: 01JD5ZQ8V7W9X2Y3Z4A5B6C7D8\nbase_model: ./base\n---\n")
    age(trainable_dir)
    assert run_build(doc, []) == 1
    out = capsys.readouterr().out
    assert "FAILED  :data-default" in out and "adapter 'default' has nothing to train" in out


def test_sequence_len_longer_than_the_base_is_refused_at_its_line(trainable_dir, capsys):
    doc = trainable_dir / "doc.dlm"
    _edit(doc, "sequence_len: 64", "sequence_len: 4096")
    assert run_build(doc, []) == 1
    out = capsys.readouterr().out
    assert "doc.dlm:6:17: training.sequence_len 4096 is longer than base './base' can take (256 tokens)" in out


def test_cancel_mid_training_keeps_the_previous_version_current(trainable_dir):
    doc = trainable_dir / "doc.dlm"
    run_build(doc, [], quiet=True)
    before = _versions(doc).current()
    _edit(doc, "the item is of value", "the item is a fact")
    cancel = threading.Event()
    import rules.train as train_rule

    original = train_rule.Progress if hasattr(train_rule, "Progress") else None
    from dlmbuild.train import progress

    real_update = progress.Progress.update

    def update(self, report):
        real_update(self, report)
        if report.step == 2:
            cancel.set()

    progress.Progress.update = update
    try:
        with pytest.raises(KeyboardInterrupt):
            run_build(doc, [], quiet=True, cancel=cancel)
    finally:
        progress.Progress.update = real_update
    assert original is None
    after = _versions(doc)
    assert after.current() == before and [v.label for v in after.all()] == ["v0001"]
    project, _ = open_project(doc)
    assert not [p for p in project.layout.actions.rglob(".tmp-*")]


def test_gpus_2_trains_through_two_workers_and_publishes(trainable_dir, monkeypatch):
    """`--gpus 2` on a machine without CUDA, allowed onto CPU gloo workers for testing."""
    from dlmbuild.train.metrics import MetricsDB

    monkeypatch.setenv("DLM_DISTRIBUTED_CPU", "1")
    doc = trainable_dir / "doc.dlm"
    assert run_build(doc, [], quiet=True, gpus=2) == 0
    current = _versions(doc).current()
    summary = json.loads((current.path / "dlm-train.json").read_text())
    assert summary["plan"]["steps"] == 30 and (current.path / "adapter_model.safetensors").is_file()
    project, _ = open_project(doc)
    db = MetricsDB(project.layout.metrics)
    [run] = db.runs()
    assert run["status"] == "done" and run["plan"]["processes"] == 2 and len(db.steps(run["id"])) == 30
    assert run_build(doc, [], quiet=True) == 0  # one process: a different key, so it trains again
    assert _versions(doc).current().label == "v0002"


def test_fp16_on_a_cpu_only_machine_is_refused_before_anything_runs(project_dir, run_dlm):
    """float16 autocast exists only on CUDA here; training in float32 instead would ignore the
    setting, so :train (and whatever needs it) is refused, pointing at the line."""
    if torch.cuda.is_available():
        pytest.skip("a CUDA machine honours fp16")
    doc = project_dir / "doc.dlm"
    doc.write_text(doc.read_text().replace("  sequence_len: 64\n", "  sequence_len: 64\n  precision: fp16\n"))
    refused = run_dlm("build", doc)
    assert refused.code == 2 and refused.out == ""
    assert refused.err == (f"dlm: :train-default cannot be built here: {doc}:7:14: training.precision fp16 needs a CUDA "
                           "device, and this machine trains on CPU (use bf16 or fp32, or auto)\n")
    assert not (project_dir / "dlm.lock").exists()
    assert run_dlm("build", doc, ":tokenize").code == 0  # what does not need training still builds
