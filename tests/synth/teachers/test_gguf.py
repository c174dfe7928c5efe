"""``gguf:<path>`` teachers: llama.cpp in a child process on the embedded SmolLM2 GGUF."""

from __future__ import annotations

import pytest

from dlmbuild.errors import UsageError
from dlmbuild.export.native import NativeCrash
from dlmbuild.infer.generate import Sampling
from dlmbuild.synth.teacher_spec import TeacherSpec, parse_teacher
from dlmbuild.synth.teachers.gguf import GgufTeacher

SAMPLING = Sampling(max_new_tokens=8, temperature=0.7, top_p=0.9, seed=7)
QUESTION = ("You answer in one short sentence.", "What is the capital of France?")


@pytest.fixture(scope="module")
def embedded_gguf():
    from dlmbuild.bases.embedded import locate_gguf

    gguf = locate_gguf().gguf
    assert gguf is not None, "the embedded base is not installed; run scripts/setup.sh"
    return gguf


@pytest.mark.slow
def test_a_seeded_reply_repeats_alone_and_in_a_batch(embedded_gguf):
    teacher = GgufTeacher(parse_teacher(f"gguf:{embedded_gguf}"), n_ctx=512)
    assert teacher.label == f"gguf:{embedded_gguf.name}"
    alone = teacher.complete(*QUESTION, SAMPLING)
    assert alone.strip()
    # a second child, the same question twice with another between: the same sampled reply
    first, other, again = teacher.complete_many([QUESTION, ("", "Name a colour."), QUESTION], SAMPLING)
    assert first == again == alone
    assert other.strip()
    teacher.close()


def test_an_empty_batch_starts_no_child(embedded_gguf, monkeypatch):
    monkeypatch.setattr("dlmbuild.export.native.run_isolated", lambda *a, **k: pytest.fail("started a child"))
    assert GgufTeacher(TeacherSpec("gguf", str(embedded_gguf))).complete_many([], SAMPLING) == []


def test_a_missing_path_is_a_usage_error(tmp_path):
    missing = tmp_path / "nope.gguf"
    with pytest.raises(UsageError) as caught:
        GgufTeacher(parse_teacher(f"gguf:{missing}"))
    assert caught.value.exit_code == 2
    assert str(caught.value) == f"teacher gguf:{missing}: no such file {missing}"


def test_a_file_that_is_not_gguf_is_a_usage_error(tmp_path):
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"PK\x03\x04 not a gguf")
    with pytest.raises(UsageError) as caught:
        GgufTeacher(TeacherSpec("gguf", str(fake)))
    assert str(caught.value) == f"teacher gguf:{fake}: {fake} is not a GGUF file"


def test_a_native_crash_is_one_line(embedded_gguf, monkeypatch):
    monkeypatch.setenv("DLM_NATIVE_FAULT", "gguf_worker")  # the child dies of a real SIGSEGV
    with pytest.raises(NativeCrash) as caught:
        GgufTeacher(TeacherSpec("gguf", str(embedded_gguf))).complete(*QUESTION, SAMPLING)
    assert str(caught.value) == ("llama.cpp crashed (SIGSEGV) while answering 1 prompt with teacher "
                                 f"gguf:{embedded_gguf.name} (DLM_DEBUG=1 shows its log)")
