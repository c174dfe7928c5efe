"""The main job on the real embedded base: build the tutor example, then ask it a question it
was trained on. SmolLM2-135M cannot know Kelvarro (it is invented), so the answer must come from
the adapter. About four minutes on two CPU cores.

The build also verifies the committed ``examples/dlm.lock`` on whatever machine runs it: byte
for byte where the machine's class is in the lock, by behaviour within the document's
tolerance where it is not (what ``dlm verify`` does, without a second training)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tomllib
import urllib.request
from pathlib import Path

import pytest
from tests.helpers import free_port, suite_threads, wait_for_http

pytestmark = pytest.mark.slow
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_tutor_builds_and_prompt_answers_a_trained_question(embedded_home, tmp_path, monkeypatch, run_dlm):
    home = embedded_home
    work = tmp_path / "examples"
    shutil.copytree(EXAMPLES, work)
    committed = tomllib.loads((work / "dlm.lock").read_text())["documents"]["tutor.dlm"]
    monkeypatch.setenv("DLM_HOME", str(home))
    monkeypatch.setenv("DLM_THREADS", suite_threads())
    doc = work / "tutor.dlm"

    before = run_dlm("prompt", doc, "Who invented Kelvarro?")
    assert before.code == 1 and "adapter 'default' has not been trained yet; run 'dlm train" in before.err

    built = run_dlm("build", doc)
    assert built.code == 0, built.err
    assert "built   :train-default" in built.out
    check_against_committed(committed, tomllib.loads((work / "dlm.lock").read_text())["documents"]["tutor.dlm"])

    answer = run_dlm("prompt", doc, "Who invented Kelvarro?", "--temp", "0", "--max-new-tokens", "32")
    assert answer.code == 0, answer.err
    assert "Drummond" in answer.out

    again = run_dlm("build", doc)
    assert again.code == 0 and again.out.count("cached") == 3 and "built" not in again.out

    # export at F16 (the smoke test then checks llama.cpp against transformers token for token),
    # serve the bundle with its launch.sh, and ask over the OpenAI-compatible API
    exported = run_dlm("export", doc, "--target", "llama-server", "--quant", "f16")
    assert exported.code == 0, exported.err
    assert "matches transformers token for token" in exported.err
    bundle = home / "store" / "01M7YVFPT3MKNJ3V2RH5F1G171" / "exports" / "llama-server"
    assert "Drummond" in ask_bundle(bundle, "Who invented Kelvarro?", tmp_path / "server.log")


def check_against_committed(committed: dict, built: dict) -> None:
    """The fresh build against the committed goldens: outputs (keys carry package versions,
    which a fresh install may move), then bytes or behaviour by this machine's class."""
    from dlmbuild.train.machine_class import current_class
    from dlmbuild.train.probes import compare

    def outputs(targets: dict) -> dict:
        return {name: (t["output"], t.get("files")) for name, t in targets.items()}

    assert outputs(built["targets"]) == outputs(committed["targets"])  # shared: the same bytes on every machine
    here = current_class("auto").name
    assert committed["classes"], "examples/dlm.lock records no machine class"
    if here in committed["classes"]:
        assert outputs(built["classes"][here]["targets"]) == outputs(committed["classes"][here]["targets"])
        return
    reference = committed["classes"][sorted(committed["classes"])[0]]
    verdict = compare(reference["probes"][":train-default"], built["classes"][here]["probes"][":train-default"], 1.0)
    assert verdict.passes(1.0), verdict


def ask_bundle(bundle: Path, question: str, log_path: Path) -> str:
    port = free_port()
    env = dict(os.environ, PYTHON=sys.executable)
    log = open(log_path, "wb")  # a file, not a pipe: the server's load log would fill a pipe and block it
    server = subprocess.Popen(["bash", str(bundle / "launch.sh"), str(port), "1"], env=env,
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}/v1"
        wait_for_http(f"{url}/models", server, log_path, "llama server")
        body = json.dumps({"messages": [{"role": "user", "content": question}], "temperature": 0, "max_tokens": 32}).encode()
        request = urllib.request.Request(f"{url}/chat/completions", data=body, headers={"Content-Type": "application/json"})
        reply = json.loads(urllib.request.urlopen(request, timeout=120).read())
        return reply["choices"][0]["message"]["content"]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()
