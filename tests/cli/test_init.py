"""``dlm init``: a valid scaffold with a fresh ULID, never over an existing file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dlmbuild.document.parse import parse_document
from dlmbuild.document.schema import ULID_PATTERN


def test_init_writes_a_valid_tutor_document(tmp_path: Path, run_dlm):
    path = tmp_path / "notes.dlm"
    r = run_dlm("init", path)
    assert (r.code, r.err) == (0, "")
    assert r.out == f"wrote {path} (tutor template, base smollm2-135m)\nnext: edit it, then `dlm show {path}`\n"
    doc = parse_document(path)
    assert re.match(ULID_PATTERN, doc.config.dlm_id)
    assert doc.config.base_model == "smollm2-135m"
    assert doc.config.system_prompt == "You are a patient tutor. Answer from the notes, briefly."
    assert [(s.type.value, len(s.pairs)) for s in doc.sections] == [("prose", 0), ("instruction", 1)]
    assert doc.text.startswith("---\n# A dlm document:")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.dlm"]  # no temp file left behind


def test_each_init_gets_a_fresh_id(tmp_path: Path, run_dlm):
    run_dlm("init", tmp_path / "a.dlm")
    run_dlm("init", tmp_path / "b.dlm")
    assert parse_document(tmp_path / "a.dlm").config.dlm_id != parse_document(tmp_path / "b.dlm").config.dlm_id


@pytest.mark.parametrize(
    ("template", "sections", "adapters"),
    [("tutor", ["prose", "instruction"], ["default"]), ("multi-adapter", ["prose", "instruction", "instruction"], ["knowledge", "tone"]), ("blank", [], ["default"])],
)
def test_templates(tmp_path: Path, run_dlm, template: str, sections: list[str], adapters: list[str]):
    path = tmp_path / "t.dlm"
    r = run_dlm("init", path, "--template", template)
    assert r.code == 0, r.err
    doc = parse_document(path)
    assert [s.type.value for s in doc.sections] == sections
    assert doc.config.training.adapter_names == adapters


def test_multi_adapter_template_routes_as_documented(tmp_path: Path, run_dlm):
    path = tmp_path / "m.dlm"
    run_dlm("init", path, "--template", "multi-adapter")
    assert [s.adapters for s in parse_document(path).sections] == [("knowledge", "tone"), ("knowledge",), ("tone",)]


@pytest.mark.parametrize("base", ["qwen2.5-0.5b", "hf:HuggingFaceTB/SmolLM2-135M-Instruct", "./models/mine"])
def test_init_with_base(tmp_path: Path, run_dlm, base: str):
    path = tmp_path / "b.dlm"
    r = run_dlm("init", path, "--base", base)
    assert r.code == 0, r.err
    assert parse_document(path).config.base_model == base


def test_init_never_overwrites(tmp_path: Path, run_dlm):
    path = tmp_path / "mine.dlm"
    path.write_bytes(b"precious")
    r = run_dlm("init", path)
    assert r.code == 2
    assert r.err == f"{path}: already exists; dlm init never overwrites (choose another path)\n"
    assert r.out == ""
    assert path.read_bytes() == b"precious"


def test_init_unknown_template(tmp_path: Path, run_dlm):
    r = run_dlm("init", tmp_path / "x.dlm", "--template", "tutr")
    assert r.code == 2
    assert r.err == "dlm: unknown template 'tutr' (did you mean 'tutor'?); choose from tutor, multi-adapter, blank, multimodal, audio\n"
    assert not (tmp_path / "x.dlm").exists()


def test_init_unknown_base_writes_nothing(tmp_path: Path, run_dlm):
    path = tmp_path / "x.dlm"
    r = run_dlm("init", path, "--base", "smollm2-13m")
    assert r.code == 2
    assert r.err == (
        f"{path}:5:13: base_model: unknown base model 'smollm2-13m' (did you mean 'smollm2-135m'?); "
        "use a registry key, hf:org/name, or a local path\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_init_into_a_missing_folder(tmp_path: Path, run_dlm):
    r = run_dlm("init", tmp_path / "nope" / "x.dlm")
    assert r.code == 2
    assert r.err == f"{tmp_path / 'nope'}: folder does not exist\n"


def test_init_audio_writes_a_speech_scaffold_and_its_example_clip(tmp_path: Path, run_dlm):
    path = tmp_path / "talk.dlm"
    r = run_dlm("init", path, "--audio")
    assert r.code == 0, r.err
    assert r.out.startswith(f"wrote {path} (audio template, base whisper-tiny.en) and media/example.wav")
    doc = parse_document(path)
    assert doc.config.base_model == "whisper-tiny.en"
    assert [(s.type.value, s.attributes["path"]) for s in doc.sections] == [("audio", "media/example.wav")]
    assert (tmp_path / "media" / "example.wav").stat().st_size > 10_000


def test_init_multimodal_writes_a_vision_scaffold_and_its_example_image(tmp_path: Path, run_dlm):
    path = tmp_path / "pics.dlm"
    r = run_dlm("init", path, "--multimodal")
    assert r.code == 0, r.err
    doc = parse_document(path)
    assert doc.config.base_model == "smolvlm-256m"
    assert [s.type.value for s in doc.sections] == ["image", "instruction"]
    assert (tmp_path / "media" / "example.png").is_file()


def test_init_scaffold_media_never_overwrite_and_one_scaffold_at_a_time(tmp_path: Path, run_dlm):
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "example.wav").write_bytes(b"mine")
    r = run_dlm("init", tmp_path / "talk.dlm", "--audio")
    assert r.code == 2 and "already exists; dlm init never overwrites (the audio scaffold writes it)" in r.err
    assert (tmp_path / "media" / "example.wav").read_bytes() == b"mine" and not (tmp_path / "talk.dlm").exists()
    both = run_dlm("init", tmp_path / "x.dlm", "--audio", "--multimodal")
    assert (both.code, both.err.strip()) == (2, "dlm: choose one scaffold, not multimodal and audio")
