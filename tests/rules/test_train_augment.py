"""``:train`` with the base's own questions (rules/train_augment.py) on a tiny random-init Llama:
the sampler is scripted (a random model writes nothing the filters keep), everything else is the
real build: what is trained, what is written beside the adapter, what stops training, the key."""

from __future__ import annotations

import json

import pytest

from dlmbuild.cli.build import run_build
from dlmbuild.cli.common import open_project
from dlmbuild.rules.lock_view import lock_here
from dlmbuild.store.versions import AdapterVersions
from tests.rules.conftest import age

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Every test here trains with one torch thread (tests/rules/conftest.py)."""


@pytest.fixture
def scripted(monkeypatch):
    """The base 'writes' one good rewording of the document's question, one that loses nothing
    but says the same, and one good prose question; every call is recorded."""
    calls = []

    def sample(model, tokenizer, prompts, per_prompt, seed, pad_id, device="cpu"):
        calls.append((len(prompts), per_prompt, seed))
        out = []
        for prompt in prompts:
            if prompt.endswith("in other words:"):
                out.append(["what fact is it", "tell me what the fact is?", "what is the fact?"] + ["?"] * (per_prompt - 3))
            else:
                out.append(["which note is of value?"] + ["?"] * (per_prompt - 1))
        return out

    monkeypatch.setattr("dlmbuild.train.augment.sample", sample)
    return calls


@pytest.fixture
def doc(trainable_dir):
    """The test document with prose questions on (they are off by default)."""
    path = trainable_dir / "doc.dlm"
    path.write_text(path.read_text().replace("  sequence_len: 64\n", "  sequence_len: 64\n  augment: {prose_questions: 5}\n"))
    age(trainable_dir)
    return path


def _current(doc):
    project, _ = open_project(doc)
    return AdapterVersions(project.layout.adapters, "default").current()


def _set_augment(doc, text):
    doc.write_text(doc.read_text().replace("  augment: {prose_questions: 5}\n", f"  augment: {text}\n"))
    age(doc.parent)


def test_the_written_questions_train_with_the_documents_answers_and_are_kept_beside_the_adapter(doc, scripted):
    assert run_build(doc, [], quiet=True) == 0
    current = _current(doc)
    written = [json.loads(line) for line in (current.path / "augment.jsonl").read_text().splitlines()]
    assert {"kind": "rephrasing", "question": "tell me what the fact is?", "answer": "the fact is a value"} in written
    assert all(w["question"] != "what is the fact?" for w in written)  # the document's own wording is not a rewording
    prose = [w for w in written if w["kind"] == "prose"]
    assert {w["answer"] for w in prose} == {"the paragraph is a note of value", "the item is of value", "the note is a fact"}
    assert {w["question"] for w in prose} == {"which note is of value?"}  # each answered by its own statement
    summary = json.loads((current.path / "dlm-train.json").read_text())
    assert summary["augment"]["rephrasings"] == 1 and summary["augment"]["prose_questions"] == len(prose)
    assert summary["reproduced"] is None or summary["reproduced"][1] == 1  # only the document's own answer stops training
    assert scripted and scripted[0][1] == 9  # three samples for each rewording asked for


def test_prose_questions_are_off_by_default(trainable_dir, scripted):
    doc = trainable_dir / "doc.dlm"
    assert run_build(doc, [], quiet=True) == 0
    written = [json.loads(line) for line in (_current(doc).path / "augment.jsonl").read_text().splitlines()]
    assert written and {w["kind"] for w in written} == {"rephrasing"}


def test_augment_is_in_the_training_key_and_zero_writes_nothing(doc, scripted):
    assert run_build(doc, [], quiet=True) == 0
    before = lock_here(open_project(doc)[0]).targets
    _set_augment(doc, "{rephrasings: 0, prose_questions: 0}")
    assert run_build(doc, [], quiet=True) == 0
    after = lock_here(open_project(doc)[0]).targets
    assert after[":data-default"].key == before[":data-default"].key
    assert after[":train-default"].key != before[":train-default"].key
    assert not (_current(doc).path / "augment.jsonl").exists()
    assert json.loads((_current(doc).path / "dlm-train.json").read_text())["augment"]["rephrasings"] == 0


def test_a_bad_augment_setting_is_one_located_line(doc, run_dlm):
    _set_augment(doc, "{rephrasings: 20}")
    result = run_dlm("build", str(doc))
    assert result.code == 2
    assert result.err.strip().splitlines() == [
        f"{doc}:7:26: training.augment.rephrasings: input should be less than or equal to 8"]


def test_the_base_is_not_loaded_when_nothing_is_to_be_written(tmp_path):
    """Under ``--gpus`` the parent would otherwise load a whole base on CPU for nothing."""
    from types import SimpleNamespace

    from dlmbuild.rules.train_augment import augmented_rows

    knobs = SimpleNamespace(rephrasings=0, prose_questions=0)
    project = SimpleNamespace(doc=SimpleNamespace(config=SimpleNamespace(training=SimpleNamespace(augment=knobs))))

    def load_model():
        raise AssertionError("the base was loaded")

    rows = [{"input_ids": [1, 2], "loss_mask": [0, 1], "pair": ["q?", "a."]}]
    assert augmented_rows(project, "default", rows, load_model, "cpu", tmp_path, print) == (
        [], {"rephrasings": 0, "prose_questions": 0, "sampled": 0})
    assert list(tmp_path.iterdir()) == []
