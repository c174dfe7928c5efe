"""``dlm build`` and ``dlm prompt --image`` on a document over the SmolVLM-shaped base: image
sections with a question each, trained through ``:examples-<name>`` and ``:train-<name>``, then
answered per image; a second build does nothing, and flags the base cannot take are refused
before any model loads."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.conftest import run_dlm_once
from tests.helpers import suite_threads
from tests.vision.conftest import PICTURES, QUESTION

pytestmark = pytest.mark.slow

DOC = """---
dlm_id: 01KB0V1S10N0D0C00000000001
dlm_version: 2
base_model: {base}
training:
  lora_r: 8
  learning_rate: 0.002
  max_steps: 12
  seed: 0
---
::image path="red-circle.png" alt="a red circle"::

::instruction::
### Q
{question}

### A
A red circle.

::image path="blue-square.png" alt="a blue square"::

::instruction::
### Q
{question}

### A
A blue square.
"""


@pytest.fixture(scope="module")
def shapes(tiny_vlm, pictures, tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    for name, path in pictures.items():
        shutil.copy(path, root / f"{name}.png")
    (root / "shapes.dlm").write_text(DOC.format(base=tiny_vlm, question=QUESTION))
    home = root / "home"
    home.mkdir()
    env = {"DLM_HOME": str(home), "HF_HUB_OFFLINE": "1", "DLM_THREADS": suite_threads()}
    built = run_dlm_once(env, "build", root / "shapes.dlm")
    assert built.code == 0, built.err
    return {"root": root, "doc": root / "shapes.dlm", "env": env, "build": built}


def test_the_adapter_answers_from_the_image(shapes):
    assert "built   :examples-default" in shapes["build"].out and "built   :train-default" in shapes["build"].out
    for name, spec in PICTURES.items():
        done = run_dlm_once(shapes["env"], "prompt", shapes["doc"], QUESTION, "--image", shapes["root"] / f"{name}.png",
                            "--max-new-tokens", "8")
        assert done.code == 0, done.err
        assert done.out.strip() == spec["answer"]


def test_the_hf_snapshot_loads_as_its_readme_says_and_answers_alike(shapes, tiny_vlm, tmp_path):
    """``dlm export --target hf`` on the vision document: the README's code, run as written
    (paths and question filled in), answers each image as ``dlm prompt --image`` does."""
    import json
    import subprocess
    import sys

    out = tmp_path / "snapshot"
    done = run_dlm_once(shapes["env"], "export", shapes["doc"], "--target", "hf", "--out", out)
    assert done.code == 0, done.err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["modality"] == "vision" and "mmproj projector GGUF" in manifest["gguf"]
    readme = (out / "README.md").read_text()
    assert "GGUF: this adapter also exports as a llama.cpp model GGUF plus its mmproj projector GGUF" in readme
    for name, spec in PICTURES.items():
        code = readme.split("```python\n")[1].split("```")[0]
        code = (code.replace("path/to/this/folder", str(out)).replace("PATH/TO/BASE", str(tiny_vlm))
                .replace("image.png", str(shapes["root"] / f"{name}.png")).replace("What is in the image?", QUESTION))
        ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1"), timeout=300)
        assert ran.returncode == 0, ran.stderr[-2000:]
        assert ran.stdout.strip().startswith(spec["answer"]), ran.stdout  # dlm stops at the end of the turn


def test_a_second_build_does_nothing(shapes):
    again = run_dlm_once(shapes["env"], "build", shapes["doc"])
    assert again.code == 0 and "built" not in again.out, again.out


def test_refusals_before_any_model_loads(shapes):
    image = shapes["root"] / "red-circle.png"
    no_image = run_dlm_once(shapes["env"], "prompt", shapes["doc"], QUESTION)
    assert no_image.code == 2 and no_image.err.strip().endswith("is a vision-language base: pass the image(s) to ask about with --image PATH")
    clip = run_dlm_once(shapes["env"], "prompt", shapes["doc"], QUESTION, "--audio", image)
    assert clip.code == 2 and "--audio needs a speech or audio-language base" in clip.err
    bad = shapes["root"] / "bad.png"
    bad.write_bytes(b"not a png")
    broken = run_dlm_once(shapes["env"], "prompt", shapes["doc"], QUESTION, "--image", bad)
    assert (broken.code, broken.err.strip()) == (2, f"dlm: --image {bad}: cannot be opened by Pillow (cannot identify image file 'bad.png')")
    os.unlink(bad)


def test_the_gguf_pair_answers_in_llama_cpp_and_ships_to_ollama(mtmd, shapes, tmp_path):
    """``dlm export --target ollama`` on the vision document: ``:gguf-media`` merges the adapter,
    writes the model and projector GGUFs, and llama.cpp's multimodal path answers the first
    image question with transformers' tokens; the Modelfile imports both files."""
    import json

    out = tmp_path / "ollama"
    done = run_dlm_once(shapes["env"], "export", shapes["doc"], "--target", "ollama", "--out", out)
    assert done.code == 0, done.err
    assert "built   :gguf-media" in done.out and "smoke: llama.cpp answered" in done.out + done.err
    smoke = json.loads((out / "smoke.json").read_text())
    assert smoke["tokens"] == smoke["reference"] and smoke["prompt_ids"] == smoke["reference_prompt_ids"]
    assert smoke["text"].strip() == PICTURES["red-circle"]["answer"]
    modelfile = (out / "Modelfile").read_text()
    assert [line for line in modelfile.splitlines() if line.startswith("FROM ")] == [
        "FROM ./shapes.f16.gguf", "FROM ./shapes.mmproj.f16.gguf"]
    assert (out / "shapes.f16.gguf").stat().st_size > 0 and (out / "shapes.mmproj.f16.gguf").stat().st_size > 0
    again = run_dlm_once(shapes["env"], "export", shapes["doc"], "--target", "ollama", "--out", out)
    assert again.code == 0 and "built" not in again.out, again.out
