"""The team case on the real base: store A (the session's trained ``lanes``) pushes to a real S3
server; store B, a fresh DLM_HOME with only a clone of the document and its dlm.lock, builds it
with ``--remote`` and trains nothing: every target is fetched, and B answers as A does."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from tests.conftest import run_dlm_once
from tests.remote.conftest import S3_ENV

pytestmark = pytest.mark.slow

QUESTION = "Who is the harbour master of Saltmarrow?"


def test_a_second_store_fetches_every_target_from_s3_and_answers_alike(lanes, embedded_base, s3_bucket, tmp_path):
    url, endpoint = s3_bucket
    env_a = dict(lanes["env"], **S3_ENV)
    home_b = tmp_path / "home-b"
    home_b.mkdir()
    os.symlink(embedded_base[1] / "bases", home_b / "bases")  # the base resolves here too; nothing is built
    env_b = {"DLM_HOME": str(home_b), "DLM_THREADS": lanes["env"]["DLM_THREADS"], **S3_ENV}
    for env in (env_a, env_b):
        added = run_dlm_once(env, "remote", "add", "team-s3", url, "-o", f"endpoint_url={endpoint}", "--force")
        assert added.code == 0, added.err
    pushed = run_dlm_once(env_a, "push", lanes["doc"], "--remote", "team-s3")
    assert pushed.code == 0, pushed.err
    assert "0 kept local" not in pushed.out and "target(s) uploaded" in pushed.out

    clone = tmp_path / "clone"
    clone.mkdir()
    shutil.copy(lanes["doc"], clone / "lanes.dlm")
    shutil.copy(lanes["doc"].parent / "dlm.lock", clone / "dlm.lock")
    built = run_dlm_once(env_b, "build", clone / "lanes.dlm", "--remote", "team-s3", "--explain")
    assert built.code == 0, built.err
    lines = [line.split() for line in built.out.splitlines() if line.strip()]
    assert lines and all(line[0] == "cached" for line in lines), built.out
    fetched = {line[1] for line in lines if "fetched from remote team-s3" in " ".join(line)}
    assert {":train-harbour", ":train-tidepool", ":gate", ":gguf-base"} <= fetched, built.out
    locked_a = (lanes["doc"].parent / "dlm.lock").read_text()
    assert (clone / "dlm.lock").read_text().replace("lanes.dlm", "") == locked_a.replace("lanes.dlm", "")

    again = run_dlm_once(env_b, "build", clone / "lanes.dlm", "--json")
    assert all(r["status"] == "cached" for r in json.loads(again.out))
    ask = ("prompt", QUESTION, "--adapter", "harbour", "--temp", "0", "--max-new-tokens", "16")
    here = run_dlm_once(env_b, ask[0], clone / "lanes.dlm", *ask[1:])
    there = run_dlm_once(env_a, ask[0], lanes["doc"], *ask[1:])
    assert here.code == 0 and here.out == there.out and here.out.strip()
    routed = run_dlm_once(env_b, "prompt", clone / "lanes.dlm", QUESTION, "--temp", "0", "--max-new-tokens", "16", "-v")
    assert routed.code == 0 and "adapters: harbour" in routed.err, routed.err
