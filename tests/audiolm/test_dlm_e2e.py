"""``dlm build`` and ``dlm prompt --audio`` on a document over the Qwen2-Audio-shaped base: each
clip has a transcript and a question about it, trained through ``:examples-<name>`` and
``:train-<name>``, then answered per clip; the HF snapshot's README code answers alike; a
second build does nothing; what the base cannot take is refused before any model loads."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from tests.audiolm.conftest import CLIPS, QUESTION, write_tone
from tests.conftest import run_dlm_once
from tests.helpers import suite_threads

pytestmark = pytest.mark.slow

DOC = """---
dlm_id: 01KB0A1D10A0M0D00000000001
dlm_version: 2
base_model: {base}
training:
  lora_r: 8
  learning_rate: 0.002
  max_steps: 20
  seed: 0
---
::audio path="low-hum.wav" transcript="Mmmm."::

::instruction::
### Q
{question}

### A
A low hum.

::audio path="high-beep.wav" transcript="Beep."::

::instruction::
### Q
{question}

### A
A high beep.
"""


@pytest.fixture(scope="module")
def sounds(tiny_audio_lm, clips, tmp_path_factory):
    root = tmp_path_factory.mktemp("sounds")
    for name, path in clips.items():
        shutil.copy(path, root / f"{name}.wav")
    (root / "sounds.dlm").write_text(DOC.format(base=tiny_audio_lm, question=QUESTION))
    home = root / "home"
    home.mkdir()
    env = {"DLM_HOME": str(home), "HF_HUB_OFFLINE": "1", "DLM_THREADS": suite_threads()}
    built = run_dlm_once(env, "build", root / "sounds.dlm")
    assert built.code == 0, built.err
    return {"root": root, "doc": root / "sounds.dlm", "env": env, "build": built}


def _prompt(sounds, clip: str) -> str:
    done = run_dlm_once(sounds["env"], "prompt", sounds["doc"], QUESTION, "--audio", sounds["root"] / clip, "--max-new-tokens", "8")
    assert done.code == 0, done.err
    return done.out.strip()


def test_the_adapter_answers_from_the_clip(sounds):
    assert "built   :examples-default" in sounds["build"].out and "built   :train-default" in sounds["build"].out
    assert ":examples-default: 4 examples, 2 media files" in sounds["build"].out + sounds["build"].err
    for name, spec in CLIPS.items():
        assert _prompt(sounds, f"{name}.wav") == spec["answer"]


def test_the_hf_snapshot_loads_as_its_readme_says_and_answers_alike(sounds, tiny_audio_lm, tmp_path):
    """``dlm export --target hf``: the README's code, run as written (paths and question filled
    in), answers the 16 kHz clip as ``dlm prompt --audio`` does."""
    import subprocess
    import sys

    out = tmp_path / "snapshot"
    done = run_dlm_once(sounds["env"], "export", sounds["doc"], "--target", "hf", "--out", out)
    assert done.code == 0, done.err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["modality"] == "audio" and manifest["gguf"].startswith("No GGUF: llama.cpp's audio path")
    readme = (out / "README.md").read_text()
    assert "mono, at 16000 Hz" in readme
    code = readme.split("```python\n")[1].split("```")[0]
    code = (code.replace("path/to/this/folder", str(out)).replace("PATH/TO/BASE", str(tiny_audio_lm))
            .replace("clip.wav", str(sounds["root"] / "low-hum.wav")).replace("What do you hear?", QUESTION))
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1"), timeout=300)
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert ran.stdout.strip().startswith(CLIPS["low-hum"]["answer"]), ran.stdout  # dlm stops at the end of the turn


def test_a_second_build_does_nothing_and_the_bytes_decide(sounds):
    again = run_dlm_once(sounds["env"], "build", sounds["doc"])
    assert again.code == 0 and "built" not in again.out, again.out
    clip = sounds["root"] / "low-hum.wav"
    os.utime(clip, (1_000_000, 1_000_000))
    touched = run_dlm_once(sounds["env"], "build", sounds["doc"], "-n")
    assert "dirty" not in touched.out, touched.out
    original = clip.read_bytes()
    write_tone(clip, 300.0, 16000)
    replaced = run_dlm_once(sounds["env"], "build", sounds["doc"], "-n")
    assert "dirty   :examples-default" in replaced.out and "dirty   :train-default" in replaced.out
    clip.write_bytes(original)


def test_refusals_before_any_model_loads(sounds, tmp_path):
    no_clip = run_dlm_once(sounds["env"], "prompt", sounds["doc"], QUESTION)
    assert no_clip.code == 2 and no_clip.err.strip().endswith("is an audio-language base: pass the clip with --audio PATH")
    image = run_dlm_once(sounds["env"], "prompt", sounds["doc"], QUESTION, "--image", sounds["root"] / "low-hum.wav")
    assert image.code == 2 and "--image needs a vision-language base" in image.err and "reads audio and text, not images" in image.err
    no_question = run_dlm_once(sounds["env"], "prompt", sounds["doc"], "--audio", sounds["root"] / "low-hum.wav")
    assert (no_question.code, no_question.err.strip()) == (2, "dlm: ask a question about the clip")
    gguf = run_dlm_once(sounds["env"], "build", sounds["doc"], ":gguf")
    assert gguf.code == 2 and gguf.err.startswith("dlm: :gguf-media cannot be built: llama.cpp's audio path")
    long_doc = sounds["root"] / "long.dlm"
    write_tone(sounds["root"] / "long.wav", 300.0, 16000, seconds=31.0)
    long_doc.write_text(sounds["doc"].read_text().replace('path="high-beep.wav"', 'path="long.wav"'))
    long = run_dlm_once(sounds["env"], "build", long_doc)
    assert long.code == 2 and long.out == ""
    assert long.err.startswith(f"{long_doc}:") and "clip 'long.wav' is 31.0 s long" in long.err
    assert "at most 30 s per clip" in long.err and len(long.err.strip().splitlines()) == 1


def test_doctor_plans_the_audio_adapter(sounds):
    done = run_dlm_once(sounds["env"], "doctor", sounds["doc"], "--json")
    assert done.code == 0, done.err
    report = json.loads(done.out)["document"]
    assert report["modality"] == "audio" and report["refusals"] == []
    plan = report["adapters"]["default"]
    assert (plan["examples"], plan["clips_per_step"], plan["steps"], plan["audio_tokens"]) == (4, 2, 20, 37)
    assert 0.1 < plan["estimated_peak_gib"] < 4
