"""``dlm synth instructions|list|apply|revert`` end to end through the CLI, the teacher being a
scripted OpenAI-compatible HTTP server on 127.0.0.1 driven by the real ``openai`` SDK (the
``vllm-server:`` and ``openai:`` teachers); the judge runs on a tiny random base. Covers
staging, apply, revert to the original bytes, the refusals (one line, exit 2, nothing staged),
and that an API key never reaches anything written."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.helpers import free_port
from tests.rules.conftest import trainable_project

pytest.importorskip("openai")

REPLIES = {
    "the paragraph": "Q: what is the paragraph\nA: the paragraph is a note of value\nQ: what is the fact\nA: the fact is a value",
    "the item": "Sure.\nQ: what is the item\nA: the item is of value",
    "the note": "no pairs here",
}
SECRET = "sk-test-SYNTH-SECRET-42"


class ScriptedServer:
    """``/v1/models`` lists one model; ``/v1/chat/completions`` answers with the REPLIES entry
    whose key starts the passage in the user message (after the worked example)."""

    def __init__(self):
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, body: dict):
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._send({"object": "list", "data": [{"id": "scripted", "object": "model", "owned_by": "test"}]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                passage = body["messages"][-1]["content"].split("Text:\n")[-1]
                reply = next((r for key, r in REPLIES.items() if passage.startswith(key)), "")
                self._send({"id": "c", "object": "chat.completion", "created": 0, "model": "scripted",
                            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}]})

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = ScriptedServer()
    yield s
    s.close()


@pytest.fixture
def project(tmp_path, monkeypatch):
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "VLLM_API_KEY", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    return trainable_project(tmp_path, monkeypatch)


def staged(tmp_path):
    return list((tmp_path / "home").rglob("staged.json"))


def test_synth_stages_lists_applies_and_reverts_to_the_original_bytes(project, server, run_dlm, tmp_path):
    original = (project / "doc.dlm").read_bytes()
    result = run_dlm("synth", "instructions", "proj/doc.dlm", "--teacher", f"vllm-server:{server.url}", "--filter", "dedup-only")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == (f"plan: 3 prose section(s), teacher vllm-server:{server.url}, strategy extraction, "
                        "3 pair(s) per section, filter dedup-only")
    assert lines[1] == ("filter: 3 generated from 3 requests, 1 unparsable replies, 1 duplicates, not judged, "
                        "0 over --max-pairs, 2 kept")
    assert (project / "doc.dlm").read_bytes() == original and len(staged(tmp_path)) == 1
    assert len(server.requests) == 3 and server.requests[0]["model"] == "scripted"

    listed = run_dlm("synth", "list", "proj/doc.dlm")
    assert "staged: 2 pair(s)" in listed.out and "applied: 0 pair(s) in 0 section(s)" in listed.out

    applied = run_dlm("synth", "apply", "proj/doc.dlm")
    assert applied.code == 0 and staged(tmp_path) == []
    text = (project / "doc.dlm").read_text()
    assert text.index("the paragraph is a note of value\n\n::instruction::\n<!-- auto-synth") > 0
    assert "### Q\nwhat is the paragraph\n" in text and "### Q\nwhat is the item\n" in text
    assert text.index("the item is of value\n\n::instruction::") < text.index("what is the item\n\n### A")  # after its prose
    listed = json.loads(run_dlm("synth", "list", "proj/doc.dlm", "--json").out)
    assert listed["staged"] is None and [a["pairs"] for a in listed["applied"]] == [1, 1]
    assert {a["teacher"] for a in listed["applied"]} == {f"vllm-server:{server.url}"}
    assert run_dlm("show", "proj/doc.dlm").code == 0

    reverted = run_dlm("synth", "revert", "proj/doc.dlm")
    assert reverted.code == 0 and "removed 2 synthesized section(s)" in reverted.out
    assert (project / "doc.dlm").read_bytes() == original


def test_apply_at_once_with_the_judge_and_json(project, server, run_dlm):
    result = run_dlm("synth", "instructions", "proj/doc.dlm", "--teacher", f"vllm-server:{server.url}", "--apply", "--json",
                     "--threshold", "-1000", "--max-pairs", "1")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["applied"] and report["report"]["capped"] == 1 and report["report"]["kept"] == 1
    assert isinstance(report["pairs"][0]["gain"], float)
    assert (project / "doc.dlm").read_text().count("<!-- auto-synth") == 1


def test_apply_refuses_a_document_edited_since_staging(project, server, run_dlm):
    assert run_dlm("synth", "instructions", "proj/doc.dlm", "--teacher", f"vllm-server:{server.url}", "--filter", "none").code == 0
    with open(project / "doc.dlm", "a") as f:
        f.write("\nanother note of value\n")
    before = (project / "doc.dlm").read_bytes()
    result = run_dlm("synth", "apply", "proj/doc.dlm")
    assert (result.code, result.out) == (2, "")
    assert result.err.strip() == "dlm: proj/doc.dlm changed since these pairs were staged; run 'dlm synth instructions' again"
    assert (project / "doc.dlm").read_bytes() == before


@pytest.mark.parametrize(("args", "message"), [
    (["--teacher", "bsae"], "unknown teacher 'bsae' (did you mean 'base'?); use one of: base, self, hf:, gguf:, openai:, anthropic:, vllm-server:"),
    (["--teacher", "gguf:proj/missing.gguf"], "teacher gguf:proj/missing.gguf: no such file"),
    (["--teacher", "hf:./proj/nothing-here"], "teacher hf:./proj/nothing-here: no such folder"),
    (["--teacher", "hf:someone/uncached-model"], "teacher hf:someone/uncached-model: not a folder and not in the local Hugging "
                                                "Face cache (dlm never downloads; pass a local path)"),
    (["--teacher", "openai:gpt-4o-mini"], "teacher openai:gpt-4o-mini needs OPENAI_API_KEY in the environment"),
    (["--teacher", "anthropic:claude-x"], "teacher anthropic:claude-x needs ANTHROPIC_API_KEY in the environment"),
    (["--teacher", "self"], "adapter 'default' has not been trained yet; run 'dlm build proj/doc.dlm'"),
    (["--strategy", "extract"], "unknown --strategy 'extract' (did you mean 'extraction'?); choose from extraction, expansion, both"),
    (["--filter", "judg"], "unknown --filter 'judg' (did you mean 'judge'?); choose from judge, dedup-only, none"),
    (["--per-section", "0"], "--per-section 0: ask for at least 1 pair per section"),
    (["--adapter", "tone"], "unknown adapter 'tone'; doc.dlm declares: default"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_is_staged(project, run_dlm, tmp_path, args, message):
    result = run_dlm("synth", "instructions", "proj/doc.dlm", *args)
    assert (result.code, result.err.strip(), result.out) == (2, f"dlm: {message}", "")
    assert staged(tmp_path) == []


def test_a_teacher_that_does_not_answer_is_one_line_and_nothing_is_staged(project, run_dlm, tmp_path):
    url = f"http://127.0.0.1:{free_port()}/v1"
    result = run_dlm("synth", "instructions", "proj/doc.dlm", "--teacher", f"vllm-server:{url}", "--timeout", "2")
    assert result.code == 2 and result.err.strip() == f"dlm: could not connect to teacher vllm-server:{url}"
    assert staged(tmp_path) == [] and "auto-synth" not in (project / "doc.dlm").read_text()


def test_apply_with_nothing_staged_says_what_to_run(project, run_dlm):
    result = run_dlm("synth", "apply", "proj/doc.dlm")
    assert (result.code, result.err.strip()) == (2, "dlm: nothing is staged for doc.dlm; run 'dlm synth instructions proj/doc.dlm' first")


def test_the_api_key_reaches_nothing_written(project, server, run_dlm, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    staged_run = run_dlm("synth", "instructions", "proj/doc.dlm", "--teacher", "openai:scripted", "--filter", "dedup-only")
    assert staged_run.code == 0, staged_run.err
    applied = run_dlm("synth", "apply", "proj/doc.dlm")
    shown = run_dlm("show", "proj/doc.dlm", "--json")
    listed = run_dlm("synth", "list", "proj/doc.dlm", "--json")
    for result in (staged_run, applied, shown, listed):
        assert SECRET not in result.out + result.err
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    assert "teacher=\"openai:scripted\"" in (project / "doc.dlm").read_text()
