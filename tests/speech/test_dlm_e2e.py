"""``dlm build`` and ``dlm prompt --audio`` on a speech document (examples/meeting.dlm) over the
real Whisper base: the adapter spells the invented name on clips it never trained on, a clip
without the name is transcribed as the base does, a second build does nothing, and a clip's
bytes (not its mtime) decide whether it retrains."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import run_dlm_once
from tests.helpers import suite_threads

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CLIPS = REPO / "tests" / "fixtures" / "audio"


@pytest.fixture(scope="module")
def meeting(whisper_dir, tmp_path_factory):
    """examples/meeting.dlm with its clips, built once in a home sharing the converted base."""
    root = tmp_path_factory.mktemp("meeting")
    shutil.copy(REPO / "examples" / "meeting.dlm", root / "meeting.dlm")
    shutil.copytree(REPO / "examples" / "clips", root / "clips")
    home = root / "home"
    home.mkdir()
    os.symlink(whisper_dir.parents[1].parent, home / "bases")  # home/bases/<key>/<hash>
    env = {"DLM_HOME": str(home), "HF_HUB_OFFLINE": "1", "DLM_THREADS": suite_threads()}
    built = run_dlm_once(env, "build", root / "meeting.dlm")
    assert built.code == 0, built.err
    return {"doc": root / "meeting.dlm", "env": env, "build": built}


def _prompt(meeting, clip: str):
    done = run_dlm_once(meeting["env"], "prompt", meeting["doc"], "--audio", CLIPS / clip)
    assert done.code == 0, done.err
    return done.out.strip()


def test_the_adapter_spells_the_name_on_held_out_clips(meeting):
    texts = json.loads((CLIPS / "transcripts.json").read_text())
    assert "built   :train-default" in meeting["build"].out
    for clip in ("name_05.wav", "name_06.wav"):
        assert texts[clip]["set"] == "heldout"
        assert "Kelvarro Tidemoor" in _prompt(meeting, clip)


def test_a_clip_without_the_name_is_transcribed_as_the_base_does(meeting, transcriber):
    assert _prompt(meeting, "plain_03.wav") == transcriber.transcribe(CLIPS / "plain_03.wav").strip()


def test_the_hf_snapshot_loads_as_its_readme_says_and_transcribes_alike(meeting, whisper_dir, tmp_path):
    """``dlm export --target hf``: the README's own code, run as written (paths filled in),
    transcribes a held-out clip as ``dlm prompt --audio`` does; the checksums hold; a GGUF is
    refused in one line that says why."""
    import hashlib
    import subprocess
    import sys

    out = tmp_path / "snapshot"
    done = run_dlm_once(meeting["env"], "export", meeting["doc"], "--target", "hf", "--out", out)
    assert done.code == 0, done.err
    assert sorted(p.name for p in (out / "adapters" / "default").iterdir()) == ["adapter_config.json", "adapter_model.safetensors"]
    assert (out / "preprocessor_config.json").is_file() and (out / "tokenizer.json").is_file()
    assert not (out / "model.safetensors").exists()  # the base's weights stay with the base
    for line in (out / "SHA256SUMS").read_text().splitlines():
        digest, rel = line.split("  ", 1)
        assert hashlib.sha256((out / rel).read_bytes()).hexdigest() == digest
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["modality"] == "speech" and manifest["adapters"] == ["default"]
    code = (out / "README.md").read_text().split("```python\n")[1].split("```")[0]
    code = (code.replace("path/to/this/folder", str(out)).replace("openai/whisper-tiny.en", str(whisper_dir))
            .replace("clip.wav", str(CLIPS / "name_05.wav")))
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1"), timeout=300)
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert "Kelvarro Tidemoor" in ran.stdout
    assert ran.stdout.strip() == _prompt(meeting, "name_05.wav")
    gguf = run_dlm_once(meeting["env"], "build", meeting["doc"], ":gguf")
    assert gguf.code == 2 and gguf.out == ""
    assert gguf.err == ("dlm: :gguf-media cannot be built: llama.cpp does not run Whisper models, so a speech adapter "
                        "exports as an HF snapshot (`:export-hf`)\n")


def test_a_second_build_does_nothing_and_the_bytes_decide(meeting):
    again = run_dlm_once(meeting["env"], "build", meeting["doc"])
    assert again.code == 0 and "built" not in again.out
    clip = meeting["doc"].parent / "clips" / "name_01.wav"
    os.utime(clip, (1_000_000, 1_000_000))
    touched = run_dlm_once(meeting["env"], "build", meeting["doc"], "-n")
    assert all(line.split()[0] == "cached" for line in touched.out.splitlines() if line.startswith("  ") and line.split()[0] in ("cached", "dirty"))
    shutil.copy(CLIPS / "name_02.wav", clip)
    replaced = run_dlm_once(meeting["env"], "build", meeting["doc"], "-n")
    assert "dirty   :examples-default" in replaced.out and "dirty   :train-default" in replaced.out


def test_refusals_before_any_model_loads(meeting):
    text_flag = run_dlm_once(meeting["env"], "prompt", meeting["doc"], "--image", REPO / "dlmbuild/document/templates/media/example.png", "x")
    assert text_flag.code == 2
    assert text_flag.err.strip() == ("dlm: --image needs a vision-language base; whisper-tiny.en transcribes speech, it reads no images "
                                     "(a document whose base_model is one of smolvlm-256m, smolvlm-500m, qwen2-vl-2b, paligemma-3b does)")
    missing = run_dlm_once(meeting["env"], "prompt", meeting["doc"], "--audio", "nope.wav")
    assert (missing.code, missing.err.strip()) == (2, "dlm: --audio nope.wav: no such file")
    no_clip = run_dlm_once(meeting["env"], "prompt", meeting["doc"], "hello")
    assert (no_clip.code, no_clip.err.strip()) == (2, "dlm: whisper-tiny.en is a speech base: pass the clip with --audio PATH")


def test_doctor_plans_the_speech_adapter(meeting):
    done = run_dlm_once(meeting["env"], "doctor", meeting["doc"], "--json")
    assert done.code == 0, done.err
    report = json.loads(done.out)["document"]
    assert report["modality"] == "speech" and report["refusals"] == []
    plan = report["adapters"]["default"]
    assert (plan["examples"], plan["clips_per_step"], plan["steps"], plan["r"]) == (4, 4, 20, 8)
    assert 0.1 < plan["estimated_peak_gib"] < 4
