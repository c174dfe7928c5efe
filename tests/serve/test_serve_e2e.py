"""``dlm serve`` on the real base, end to end: the official ``openai`` client against a running
server, routed and pinned requests, streaming, auth, concurrency, bad requests, a taken port,
SIGTERM, and answers equal to ``dlm prompt --temp 0`` token for token."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import run_dlm_once
from tests.helpers import free_port
from tests.serve.conftest import KEY, Served

pytestmark = pytest.mark.slow

HARBOUR_Q = "Who is the harbour master of Saltmarrow?"
TIDEPOOL_Q = "How do I stop the tidepool daemon?"


def client(served, key: str = KEY):
    import openai

    return openai.OpenAI(base_url=served.url, api_key=key, max_retries=0, timeout=120)


def ask(served, model: str, question: str, **extra):
    return client(served).chat.completions.create(model=model, messages=[{"role": "user", "content": question}],
                                                  temperature=0, max_tokens=24, **extra)


def test_it_lists_the_document_and_each_adapter(served):
    ids = [m.id for m in client(served).models.list().data]
    assert ids == ["lanes", "lanes:harbour", "lanes:tidepool"]


def test_the_gate_routes_each_lane_to_its_adapter(served):
    harbour = ask(served, "lanes", HARBOUR_Q)
    tidepool = ask(served, "lanes", TIDEPOOL_Q)
    assert harbour.model_extra["dlm"]["adapters"] == {"harbour": 1.0}
    assert tidepool.model_extra["dlm"]["adapters"] == {"tidepool": 1.0}
    # routed to one adapter at 1.0, the answer is that adapter's pinned answer
    assert harbour.choices[0].message.content == ask(served, "lanes:harbour", HARBOUR_Q).choices[0].message.content


def test_pinned_answers_equal_dlm_prompt_token_for_token(served, lanes):
    for adapter, question in (("harbour", HARBOUR_Q), ("tidepool", TIDEPOOL_Q)):
        served_text = ask(served, f"lanes:{adapter}", question).choices[0].message.content
        prompted = run_dlm_once(lanes["env"], "prompt", lanes["doc"], question, "--adapter", adapter, "--temp", "0",
                                "--max-new-tokens", "24")
        assert prompted.code == 0, prompted.err
        assert served_text == prompted.out.rstrip("\n"), (adapter, served_text, prompted.out)


def test_streaming_gives_the_same_answer_in_pieces(served):
    whole = ask(served, "lanes:tidepool", TIDEPOOL_Q).choices[0].message.content
    stream = ask(served, "lanes:tidepool", TIDEPOOL_Q, stream=True)
    chunks = list(stream)
    pieces = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    assert "".join(pieces) == whole
    assert len([p for p in pieces if p]) > 1
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")


def test_plain_completions_work(served):
    out = client(served).completions.create(model="lanes:harbour", prompt="Saltmarrow is", max_tokens=8, temperature=0)
    assert out.choices[0].text.strip()
    assert out.usage.completion_tokens <= 8


def test_a_wrong_or_missing_key_is_refused(served):
    import openai

    with pytest.raises(openai.AuthenticationError):
        client(served, key="sk-wrong").models.list()
    request = urllib.request.Request(served.url + "/models")
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(request, timeout=30)
    assert missing.value.code == 401
    assert KEY not in missing.value.read().decode()
    health = urllib.request.urlopen(served.url.removesuffix("/v1") + "/health", timeout=30)
    assert json.loads(health.read()) == {"status": "ok"}


def test_eight_concurrent_requests_are_all_answered(served):
    questions = [HARBOUR_Q, TIDEPOOL_Q] * 4
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda q: ask(served, "lanes", q).choices[0].message.content, questions))
    assert len(answers) == 8 and all(answers)
    assert len(set(answers[0::2])) == 1 and len(set(answers[1::2])) == 1  # greedy: same question, same answer


def test_bad_requests_get_openai_errors_and_the_server_keeps_serving(served):
    import openai

    with pytest.raises(openai.NotFoundError) as unknown:
        ask(served, "lanes:harbor", HARBOUR_Q)
    assert "did you mean 'lanes:harbour'" in str(unknown.value)
    request = urllib.request.Request(served.url + "/chat/completions", data=b"{not json", method="POST",
                                     headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as malformed:
        urllib.request.urlopen(request, timeout=30)
    assert malformed.value.code == 400
    assert json.loads(malformed.value.read())["error"]["type"] == "invalid_request_error"
    assert ask(served, "lanes:harbour", HARBOUR_Q).choices[0].message.content


def test_a_taken_port_is_one_line_and_exit_2(served, lanes):
    port = served.url.split(":")[2].split("/")[0]
    taken = run_dlm_once(lanes["env"], "serve", lanes["doc"], "--port", port)
    assert taken.code == 2
    assert taken.err.strip().splitlines() == [f"dlm: port {port} on 127.0.0.1 is already in use; choose another with --port"]


def test_a_public_host_needs_a_key(lanes):
    refused = run_dlm_once(lanes["env"], "serve", lanes["doc"], "--host", "0.0.0.0")
    assert refused.code == 2
    assert "--api-key" in refused.err and len(refused.err.strip().splitlines()) == 1


def children_of(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def test_sigterm_stops_the_server_and_its_llama_cpp_worker(lanes, tmp_path):
    server = Served([str(lanes["doc"]), "--port", str(free_port())], lanes["env"], tmp_path / "serve.log")
    workers = children_of(server.proc.pid)
    assert workers, "the llama.cpp worker should be a child of dlm serve"
    assert server.stop() == 0
    time.sleep(0.5)
    for pid in workers:
        assert not os.path.exists(f"/proc/{pid}") or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    assert "dlm serve: stopped" in server.output()
    assert "Traceback" not in server.output()


def test_dlm_prompt_routes_through_the_gate_and_mixes_exactly(lanes):
    routed = run_dlm_once(lanes["env"], "prompt", lanes["doc"], TIDEPOOL_Q, "--temp", "0", "--max-new-tokens", "16", "-v")
    assert routed.code == 0, routed.err
    assert "dlm: adapters: tidepool 1.00" in routed.err
    pinned = run_dlm_once(lanes["env"], "prompt", lanes["doc"], TIDEPOOL_Q, "--adapter", "tidepool", "--temp", "0",
                          "--max-new-tokens", "16")
    assert routed.out == pinned.out
    mixed = run_dlm_once(lanes["env"], "prompt", lanes["doc"], TIDEPOOL_Q, "--adapter-mix", "harbour:0.5,tidepool:0.5",
                         "--temp", "0", "--max-new-tokens", "16", "-v")
    assert mixed.code == 0, mixed.err
    assert "dlm: adapters: harbour 0.50, tidepool 0.50" in mixed.err
    bad = run_dlm_once(lanes["env"], "prompt", lanes["doc"], "hi", "--adapter-mix", "harbour:lots")
    assert bad.code == 2 and len(bad.err.strip().splitlines()) == 1 and "Traceback" not in bad.err
