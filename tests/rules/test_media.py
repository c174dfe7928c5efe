"""Media sections against the base: an ``::image::`` on a base that cannot see, or an
``::audio::`` on one that cannot hear, is refused at its fence before any target runs, naming
bases that would take it; a base whose config says it reads them passes."""

from __future__ import annotations

import json

import pytest

from dlmbuild.cli.common import open_project
from dlmbuild.errors import DocumentError
from tests.helpers import tiny_png, tiny_wav
from tests.rules.conftest import notes_project

DOC = """---
dlm_id: 01JD5ZQ8V7W9X2Y3Z4A5B6C7M1
base_model: BASE
---
the paragraph is a note of value

SECTION
"""
IMAGE = '::image path="cat.png" alt="a red square"::\nA red square on white.\n'
AUDIO = '::audio path="hi.wav" transcript="hello there"::\n'


def _project(tmp_path, monkeypatch, section: str, base: str = "./base", architecture: str | None = None):
    doc = notes_project(tmp_path, monkeypatch, DOC.replace("BASE", base).replace("SECTION", section))
    (doc.parent / "cat.png").write_bytes(tiny_png())
    (doc.parent / "hi.wav").write_bytes(tiny_wav())
    if architecture:
        config = json.loads((doc.parent / "base" / "config.json").read_text())
        config["architectures"] = [architecture]
        (doc.parent / "base" / "config.json").write_text(json.dumps(config))
    return doc


@pytest.mark.parametrize(("section", "base", "architecture", "message"), [
    (IMAGE, "./base", None, "::image:: needs a vision-language base; ./base reads text only"),
    (AUDIO, "./base", None, "::audio:: needs a speech or audio-language base; ./base reads text only"),
    (AUDIO, "./base", "Idefics3ForConditionalGeneration", "::audio:: needs a speech or audio-language base; ./base reads images and text, not audio"),
    (IMAGE, "./base", "WhisperForConditionalGeneration", "::image:: needs a vision-language base; ./base transcribes speech, it does not read images"),
    (IMAGE, "smollm2-135m", None, "::image:: needs a vision-language base; smollm2-135m reads text only"),
])
def test_media_the_base_cannot_read_is_refused_at_its_fence(tmp_path, monkeypatch, section, base, architecture, message):
    doc = _project(tmp_path, monkeypatch, section, base, architecture)
    with pytest.raises(DocumentError) as info:
        open_project(doc)
    assert str(info.value).startswith(f"{doc}:7:1: {message}")


@pytest.mark.parametrize(("section", "architecture"), [(IMAGE, "Idefics3ForConditionalGeneration"),
                                                       (IMAGE, "Qwen2VLForConditionalGeneration")])
def test_a_base_that_reads_the_media_takes_the_section(tmp_path, monkeypatch, section, architecture):
    doc = _project(tmp_path, monkeypatch, section, architecture=architecture)
    _project_, graph = open_project(doc)
    assert graph.resolve([":train"]) == [":train-default"]
    assert graph.targets[":train-default"].deps == (":examples-default",)
    assert graph.targets[":export-hf"].buildable
    assert graph.resolve([":export"]) == [":export-hf"]
    if architecture == "Idefics3ForConditionalGeneration":  # llama.cpp's pair is checked for this family
        assert graph.targets[":gguf-media"].buildable and graph.targets[":export-ollama"].buildable
        assert graph.targets[":gguf-media"].deps == (":train-default", ":examples-default")
        assert graph.targets[":export-ollama"].deps == (":gguf-media",)
        assert "exports as its GGUF pair" in graph.targets[":export-vllm"].why_unavailable
    else:
        assert not graph.targets[":gguf-media"].buildable
        assert "only for the SmolVLM/Idefics3 family" in graph.targets[":export-ollama"].why_unavailable


@pytest.mark.parametrize(("options", "why"), [
    ({"quant": "q8_0"}, "a vision GGUF pair is written at F16; --quant q8_0 applies to text models"),
    ({"adapter_mix": "default:1.0"}, "a vision GGUF pair holds one adapter as trained: --adapter-mix and --dequantize"),
    ({"adapter": "other"}, "--adapter other is not an adapter of this document (default)"),
])
def test_a_vision_pair_refuses_options_it_cannot_honour(tmp_path, monkeypatch, options, why):
    doc = _project(tmp_path, monkeypatch, IMAGE, architecture="Idefics3ForConditionalGeneration")
    _project_, graph = open_project(doc, options=options)
    for target in (":gguf-media", ":export-ollama"):
        assert not graph.targets[target].buildable
        assert graph.targets[target].why_unavailable.startswith(f"{target} cannot be built: {why}")
    _project_, graph = open_project(doc, options={"quant": "F16"})
    assert graph.targets[":gguf-media"].buildable


def test_a_speech_base_takes_clips_and_refuses_other_sections_at_their_fence(tmp_path, monkeypatch):
    doc = _project(tmp_path, monkeypatch, AUDIO, architecture="WhisperForConditionalGeneration")
    with pytest.raises(DocumentError) as info:
        open_project(doc)
    assert str(info.value) == (f"{doc}:5:1: ::prose:: trains nothing on speech base ./base: its adapters learn from "
                               f"::audio:: clips and their transcripts")
    doc.write_text(doc.read_text().replace("the paragraph is a note of value\n", ""))
    _project_, graph = open_project(doc)
    assert set(graph.targets) == {":examples-default", ":train-default", ":gguf-media", ":export-hf", ":export-ollama",
                                  ":export-llama-server", ":export-vllm", ":export-mlx-serve"}
    assert graph.targets[":gguf-media"].why_unavailable == (":gguf-media cannot be built: llama.cpp does not run Whisper "
                                                            "models, so a speech adapter exports as an HF snapshot (`:export-hf`)")


def test_settings_a_media_trainer_does_not_use_are_refused_where_they_are_written(tmp_path, monkeypatch):
    doc = _project(tmp_path, monkeypatch, IMAGE, architecture="Idefics3ForConditionalGeneration")
    doc.write_text(doc.read_text().replace("base_model: ./base\n", "base_model: ./base\ntraining:\n  lora_r: 4\n  sequence_len: 64\n"))
    with pytest.raises(DocumentError) as info:
        open_project(doc)
    assert str(info.value).startswith(f"{doc}:6:3: training.sequence_len is not used when training vision base ./base; remove it")


def test_the_refusal_is_one_line_and_nothing_builds(tmp_path, monkeypatch, run_dlm):
    doc = _project(tmp_path, monkeypatch, IMAGE)
    result = run_dlm("build", doc)
    assert result.code == 2 and result.out == ""
    assert len(result.err.strip().splitlines()) == 1 and "Traceback" not in result.err
    assert not (doc.parent / "dlm.lock").exists()


def _examples_key(doc) -> str:
    from dlmbuild.cli.common import make_engine

    project, graph = open_project(doc)
    [result] = make_engine(project, graph, quiet=True).run([":examples-default"], dry_run=True)
    assert result.key, result.reasons
    return result.key


def test_an_images_bytes_enter_the_key_and_its_mtime_does_not(tmp_path, monkeypatch):
    import os

    doc = _project(tmp_path, monkeypatch, IMAGE, architecture="Idefics3ForConditionalGeneration")
    first = _examples_key(doc)
    image = doc.parent / "cat.png"
    os.utime(image, (1_000_000, 1_000_000))
    assert _examples_key(doc) == first
    image.write_bytes(tiny_png(color=(10, 200, 10)))
    os.utime(image, (1_000_000, 1_000_000))  # same mtime, other bytes: the size or ctime differs
    assert _examples_key(doc) != first


def test_a_clip_longer_than_a_speech_base_takes_is_refused_at_its_fence(tmp_path, monkeypatch):
    doc = _project(tmp_path, monkeypatch, AUDIO, architecture="WhisperForConditionalGeneration")
    doc.write_text(doc.read_text().replace("the paragraph is a note of value\n", ""))
    (doc.parent / "hi.wav").write_bytes(tiny_wav(seconds=31, rate=8000))
    with pytest.raises(DocumentError) as info:
        open_project(doc)
    assert str(info.value) == (f"{doc}:6:1: clip 'hi.wav' is 31.0 s long; ./base takes at most 30 s per clip "
                               f"(split it, with a transcript per part)")
