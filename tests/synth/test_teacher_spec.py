"""``--teacher`` parsing: every scheme, the labels provenance records, and one-line refusals."""

from __future__ import annotations

import pytest

from dlmbuild.errors import UsageError
from dlmbuild.synth.teacher_spec import TeacherSpec, parse_teacher, strip_userinfo


@pytest.mark.parametrize(("text", "spec", "label"), [
    ("base", TeacherSpec("base"), "base"),
    ("self", TeacherSpec("self"), "self"),
    ("hf:/models/qwen", TeacherSpec("hf", "/models/qwen"), "hf:qwen"),
    ("gguf:~/m/teacher.Q4_K_M.gguf", TeacherSpec("gguf", "~/m/teacher.Q4_K_M.gguf"), "gguf:teacher.Q4_K_M.gguf"),
    ("openai:gpt-4o-mini", TeacherSpec("openai", "gpt-4o-mini"), "openai:gpt-4o-mini"),
    ("anthropic:claude-haiku", TeacherSpec("anthropic", "claude-haiku"), "anthropic:claude-haiku"),
    ("vllm-server:http://127.0.0.1:8000/v1", TeacherSpec("vllm-server", "http://127.0.0.1:8000/v1"),
     "vllm-server:http://127.0.0.1:8000/v1"),
])
def test_each_scheme_parses_and_labels(text, spec, label):
    parsed = parse_teacher(text)
    assert parsed == spec and parsed.label == label


def test_local_teachers_are_the_seedable_ones():
    assert [parse_teacher(t).local for t in ("base", "self", "hf:x/y", "gguf:a.gguf", "openai:m", "vllm-server:http://h")] == [
        True, True, True, True, False, False]


def test_a_url_with_credentials_never_reaches_the_label():
    spec = parse_teacher("vllm-server:https://alice:s3cret@llm.example:8443/v1")
    assert spec.label == "vllm-server:https://llm.example:8443/v1"
    assert "s3cret" not in spec.label and "alice" not in spec.label
    assert strip_userinfo("http://host/v1") == "http://host/v1"


@pytest.mark.parametrize(("text", "message"), [
    ("bsae", "unknown teacher 'bsae' (did you mean 'base'?); use one of: base, self, hf:, gguf:, openai:, anthropic:, vllm-server:"),
    ("opneai:gpt", "unknown teacher scheme 'opneai:' (did you mean 'openai'?); use one of: base, self, hf:, gguf:, openai:, anthropic:, vllm-server:"),
    ("gguf:", "teacher 'gguf:' needs a model after the colon"),
    ("vllm-server:", "teacher 'vllm-server:' needs a URL after the colon"),
    ("vllm-server:localhost:8000", "vllm-server teacher: 'localhost:8000' is not an http:// or https:// URL"),
    ("base:x", "teacher 'base' takes no ':x'; write --teacher base"),
])
def test_bad_teachers_are_one_line(text, message):
    with pytest.raises(UsageError) as caught:
        parse_teacher(text)
    assert str(caught.value) == message and caught.value.exit_code == 2
