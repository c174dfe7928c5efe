"""A routed llama-server bundle of a multi-adapter document with the gate on: every LoRA GGUF,
the gate and a launcher that serves them routed, without the document."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from tests.conftest import run_dlm_once
from tests.helpers import free_port

pytestmark = pytest.mark.slow


def test_the_bundle_routes_like_dlm_serve(lanes, tmp_path):
    out = tmp_path / "bundle"
    exported = run_dlm_once(lanes["env"], "export", lanes["doc"], "--target", "llama-server", "--out", out)
    assert exported.code == 0, exported.err
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    for expected in ("base.F16.gguf", "harbour.lora.gguf", "tidepool.lora.gguf", "gate/gate.safetensors", "gate/dlm-gate.json", "gate/features.F16.gguf",
                     "tokenizer/tokenizer.json", "serve.json", "launch.sh", "chat-template.jinja"):
        assert expected in names
    spec = json.loads((out / "serve.json").read_text())
    assert spec["loras"] == {"harbour": "harbour.lora.gguf", "tidepool": "tidepool.lora.gguf"}
    assert str(tmp_path) not in (out / "serve.json").read_text() + (out / "launch.sh").read_text()  # movable

    moved = tmp_path / "elsewhere"
    out.rename(moved)  # the bundle needs neither the document nor the store
    port = free_port()
    log = open(tmp_path / "bundle.log", "wb")
    server = subprocess.Popen(["bash", str(moved / "launch.sh"), str(port), "1"], stdout=log, stderr=subprocess.STDOUT,
                              env=dict(os.environ, PYTHON=sys.executable, DLM_HOME=str(tmp_path / "empty-home")))
    try:
        import openai

        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0, timeout=120)
        deadline = time.monotonic() + 120
        while True:
            try:
                assert [m.id for m in client.models.list().data] == ["lanes", "lanes:harbour", "lanes:tidepool"]
                break
            except openai.APIConnectionError:
                assert server.poll() is None, (tmp_path / "bundle.log").read_text()
                assert time.monotonic() < deadline
                time.sleep(0.3)
        answer = client.chat.completions.create(model="lanes", messages=[{"role": "user", "content": "How do I stop the tidepool daemon?"}],
                                                temperature=0, max_tokens=16)
        assert answer.model_extra["dlm"]["adapters"] == {"tidepool": 1.0}
        assert answer.choices[0].message.content
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
