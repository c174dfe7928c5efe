"""Teachers over HTTP, through the real SDKs and real sockets.

OpenAI-compatible: llama-cpp-python's own server (``python -m llama_cpp.server``) on the
embedded SmolLM2 GGUF, started once for the module. Anthropic: llama.cpp has no
``/v1/messages``, so a small http.server in a thread answers with a recorded Messages API
response and keeps each request it got. The same server plays a key-echoing 401, and a
listening socket that never accepts plays a server that never answers.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dlmbuild.errors import EnvironmentProblem, UsageError
from dlmbuild.infer.generate import Sampling
from dlmbuild.synth.teacher_spec import TeacherSpec, parse_teacher
from dlmbuild.synth.teachers.remote import AnthropicTeacher, OpenAITeacher, api_base, open_remote_teacher
from tests.helpers import free_port, wait_for_http

SECRET = "sk-test-SECRET-123"
SAMPLING = Sampling(max_new_tokens=16, temperature=0.7, top_p=0.9, seed=11)
ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ADMIN_KEY", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID",
       "OPENAI_CUSTOM_HEADERS", "VLLM_API_KEY", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN",
       "ANTHROPIC_BASE_URL", "ANTHROPIC_PROFILE", "ANTHROPIC_CUSTOM_HEADERS")

# A Messages API reply as api.anthropic.com sends it (ids shortened).
RECORDED_MESSAGE = {
    "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
    "type": "message",
    "role": "assistant",
    "model": "claude-test-model",
    "content": [{"type": "text", "text": "Q: What is a Kelvarro?"},
                {"type": "text", "text": "\nA: An invented word."}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 21, "output_tokens": 14},
}
# A chat completion as an OpenAI-compatible server sends it.
RECORDED_COMPLETION = {
    "id": "chatcmpl-test", "object": "chat.completion", "created": 1700000000, "model": "recorded-model",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Q: Why? A: Because."},
                 "finish_reason": "stop", "logprobs": None}],
    "usage": {"prompt_tokens": 9, "completion_tokens": 7, "total_tokens": 16},
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """No key or base URL of the machine running the tests leaks in (or out)."""
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    """``http://127.0.0.1:PORT/v1`` of llama-cpp-python's OpenAI-compatible server."""
    from dlmbuild.bases.embedded import locate_gguf

    gguf = locate_gguf().gguf
    assert gguf is not None, "the embedded base is not installed; run scripts/setup.sh"
    port = free_port()
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    log = open(log_path, "wb")  # a file, not a pipe: a full pipe would block the server
    server = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1",
                               "--port", str(port), "--n_ctx", "2048", "--n_threads", "1"],
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_for_http(f"{url}/models", server, log_path, "llama_cpp.server")
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()


class Recorder:
    """A real HTTP server on 127.0.0.1 that answers every POST/GET with ``status`` and ``body``
    and keeps what it was sent: ``requests`` is a list of (method, path, headers with lowercase
    names, json body)."""

    def __init__(self):
        self.status = 200
        self.body: dict = {}
        self.requests: list[tuple[str, str, dict, dict | None]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                recorder.requests.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                                          json.loads(raw) if raw else None))
                data = json.dumps(recorder.body).encode()
                self.send_response(recorder.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder():
    server = Recorder()
    yield server
    server.close()


@pytest.fixture
def silent_port():
    """A port that accepts connections (the kernel completes them) and never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield s.getsockname()[1]


def one_line(err: Exception) -> str:
    text = str(err)
    assert "\n" not in text and "Traceback" not in text
    return text


# -- OpenAI-compatible, against llama.cpp's server ---------------------------------------------

@pytest.mark.slow
def test_vllm_server_teacher_answers_over_real_http(llama_server):
    teacher = open_remote_teacher(parse_teacher(f"vllm-server:{llama_server}"))
    try:
        assert isinstance(teacher, OpenAITeacher)
        assert teacher.label == f"vllm-server:{llama_server}"
        assert teacher.model.endswith(".gguf")  # the first model the server lists
        reply = teacher.complete("You answer in one short sentence.", "What is the capital of France?", SAMPLING)
        assert reply.strip()
    finally:
        teacher.close()


@pytest.mark.slow
def test_vllm_server_url_without_a_path_gets_v1(llama_server):
    bare = llama_server.removesuffix("/v1")
    teacher = open_remote_teacher(TeacherSpec("vllm-server", bare))
    try:
        assert teacher.complete("", "Say hello.", SAMPLING).strip()
    finally:
        teacher.close()


@pytest.mark.slow
def test_openai_teacher_follows_openai_base_url(llama_server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake-key-for-tests")
    monkeypatch.setenv("OPENAI_BASE_URL", llama_server)
    teacher = open_remote_teacher(parse_teacher("openai:gpt-test"))
    try:
        assert teacher.model == "gpt-test" and teacher.label == "openai:gpt-test"
        assert teacher.complete("You are terse.", "Name a colour.", SAMPLING).strip()
    finally:
        teacher.close()


def test_api_base_appends_v1_only_without_a_path():
    assert api_base("http://h:8000") == "http://h:8000/v1"
    assert api_base("http://h:8000/") == "http://h:8000/v1"
    assert api_base("http://h:8000/v1") == "http://h:8000/v1"
    assert api_base("https://h/llm/v1") == "https://h/llm/v1"
    assert api_base("https://u:p@h:1") == "https://u:p@h:1/v1"


def test_openai_request_carries_the_sampling(recorder, monkeypatch):
    recorder.body = RECORDED_COMPLETION
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake")
    monkeypatch.setenv("OPENAI_BASE_URL", f"{recorder.url}/v1")
    teacher = OpenAITeacher(TeacherSpec("openai", "gpt-test"))
    assert teacher.complete("SYS", "USER", SAMPLING) == "Q: Why? A: Because."
    assert teacher.complete("", "USER", SAMPLING) == "Q: Why? A: Because."
    teacher.close()
    (method, path, headers, body), (_, _, _, no_system) = recorder.requests
    assert (method, path) == ("POST", "/v1/chat/completions")
    assert headers["authorization"] == "Bearer sk-fake"
    assert body == {"model": "gpt-test", "messages": [{"role": "system", "content": "SYS"}, {"role": "user", "content": "USER"}],
                    "temperature": 0.7, "top_p": 0.9, "max_tokens": 16, "seed": 11}
    assert no_system["messages"] == [{"role": "user", "content": "USER"}]


def test_vllm_server_sends_a_placeholder_key_when_none_is_set(recorder):
    recorder.body = {"object": "list", "data": [{"id": "served-model", "object": "model", "owned_by": "me"},
                                                {"id": "other", "object": "model", "owned_by": "me"}]}
    teacher = OpenAITeacher(TeacherSpec("vllm-server", recorder.url))
    assert teacher.model == "served-model"
    teacher.close()
    method, path, headers, _ = recorder.requests[0]
    assert (method, path, headers["authorization"]) == ("GET", "/v1/models", "Bearer not-needed")


def test_a_server_that_wants_a_key_when_none_is_set(recorder):
    recorder.status = 401
    recorder.body = {"error": {"message": "no key", "type": "authentication_error"}}
    with pytest.raises(UsageError) as caught:
        OpenAITeacher(TeacherSpec("vllm-server", recorder.url)).complete("s", "u", SAMPLING)
    assert one_line(caught.value) == (f"teacher vllm-server:{recorder.url} wants a key; set VLLM_API_KEY "
                                      "(HTTP 401 authentication_error)")


def test_a_server_listing_no_model_is_one_line(recorder):
    recorder.body = {"object": "list", "data": []}
    teacher = OpenAITeacher(TeacherSpec("vllm-server", f"{recorder.url}/v1"))
    with pytest.raises(EnvironmentProblem) as caught:
        teacher.complete("", "hi", SAMPLING)
    assert one_line(caught.value) == f"teacher vllm-server:{recorder.url}/v1 serves no model ({recorder.url}/v1/models is empty)"


# -- Anthropic, against the recorded reply -----------------------------------------------------

def test_anthropic_request_mapping_and_reply(recorder, monkeypatch):
    recorder.body = RECORDED_MESSAGE
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-fake")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", recorder.url)
    teacher = open_remote_teacher(parse_teacher("anthropic:claude-test-model"))
    assert isinstance(teacher, AnthropicTeacher) and teacher.label == "anthropic:claude-test-model"
    assert teacher.complete("You write questions.", "Prose about Kelvarro.", SAMPLING) == \
        "Q: What is a Kelvarro?\nA: An invented word."
    teacher.complete("", "No system.", SAMPLING)
    teacher.close()
    (method, path, headers, body), (_, _, _, no_system) = recorder.requests
    assert (method, path) == ("POST", "/v1/messages")
    assert "sk-ant-fake" in (headers.get("x-api-key", "") + headers.get("authorization", ""))
    assert body == {"model": "claude-test-model", "max_tokens": 16, "system": "You write questions.",
                    "messages": [{"role": "user", "content": "Prose about Kelvarro."}]}
    # the API version the SDK sends answers 400 to any sampling parameter: none is sent
    assert not {"temperature", "top_p", "top_k"} & set(body)
    assert "system" not in no_system


# -- bad input: keys, dead servers, secrets ----------------------------------------------------

@pytest.mark.parametrize("scheme, env", [("openai", "OPENAI_API_KEY"), ("anthropic", "ANTHROPIC_API_KEY")])
def test_a_missing_key_is_a_usage_error_before_any_request(scheme, env):
    with pytest.raises(UsageError) as caught:
        open_remote_teacher(TeacherSpec(scheme, "some-model"))
    assert caught.value.exit_code == 2
    assert one_line(caught.value) == f"teacher {scheme}:some-model needs {env} in the environment"


def test_a_missing_sdk_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "anthropic", None)  # import anthropic -> ImportError
    monkeypatch.setenv("ANTHROPIC_API_KEY", "k")
    with pytest.raises(EnvironmentProblem) as caught:
        AnthropicTeacher(TeacherSpec("anthropic", "m"))
    assert caught.value.exit_code == 3
    assert one_line(caught.value) == "teachers over HTTP need the 'anthropic' package; pip install 'dlmbuild[synth]'"


def connect(scheme: str, url: str, monkeypatch, timeout: float = 5.0):
    """A teacher of ``scheme`` whose requests go to ``url`` (host root)."""
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    monkeypatch.setenv("OPENAI_BASE_URL", f"{url}/v1")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", url)
    target = url if scheme == "vllm-server" else "some-model"
    return open_remote_teacher(TeacherSpec(scheme, target), timeout=timeout)


@pytest.mark.parametrize("scheme", ["openai", "vllm-server", "anthropic"])
def test_a_refused_connection_is_one_quick_line(scheme, monkeypatch):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    teacher = connect(scheme, url, monkeypatch)
    start = time.monotonic()
    with pytest.raises(UsageError) as caught:
        teacher.complete("s", "u", SAMPLING)
    assert time.monotonic() - start < 10
    assert caught.value.exit_code == 2
    text = one_line(caught.value)
    assert text.startswith(f"could not connect to teacher {teacher.label}") and url in text
    assert SECRET not in text


@pytest.mark.parametrize("scheme", ["openai", "vllm-server", "anthropic"])
def test_a_server_that_never_answers_times_out(scheme, silent_port, monkeypatch):
    url = f"http://127.0.0.1:{silent_port}"
    teacher = connect(scheme, url, monkeypatch, timeout=0.5)
    start = time.monotonic()
    with pytest.raises(UsageError) as caught:
        teacher.complete("s", "u", SAMPLING)
    assert time.monotonic() - start < 10  # two tries of 0.5 s and a short back-off
    text = one_line(caught.value)
    assert text.startswith(f"teacher {teacher.label} did not answer within 0.5 s")
    assert SECRET not in text


@pytest.mark.parametrize("scheme", ["openai", "vllm-server", "anthropic"])
def test_a_refused_key_never_shows_the_key(scheme, recorder, monkeypatch):
    # a server that echoes the key in its error message, as some proxies do
    recorder.status = 401
    recorder.body = {"type": "error", "error": {"type": "authentication_error",
                                                "message": f"Incorrect API key provided: {SECRET}"}}
    teacher = connect(scheme, recorder.url, monkeypatch)
    with pytest.raises(UsageError) as caught:
        teacher.complete("s", "u", SAMPLING)
    text = one_line(caught.value)
    env = "ANTHROPIC_API_KEY" if scheme == "anthropic" else "OPENAI_API_KEY"
    assert text == f"teacher {teacher.label} refused the key in {env} (HTTP 401 authentication_error)"
    assert SECRET not in text and SECRET not in repr(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__  # no SDK text chained


@pytest.mark.parametrize("status, kind, words", [(404, UsageError, "has no such model or endpoint"),
                                                 (400, UsageError, "rejected the request"),
                                                 (429, EnvironmentProblem, "is rate-limiting requests"),
                                                 (503, EnvironmentProblem, "failed")])
def test_http_statuses_become_one_line(status, kind, words, recorder, monkeypatch):
    recorder.status = status
    recorder.body = {"error": {"message": f"echo {SECRET}", "type": "Some Free Text", "code": None}}
    teacher = connect("openai", recorder.url, monkeypatch)
    with pytest.raises(kind) as caught:
        teacher.complete("s", "u", SAMPLING)
    text = one_line(caught.value)
    assert words in text and f"(HTTP {status})" in text and SECRET not in text


def test_a_url_password_never_shows(recorder, monkeypatch):
    refused = f"http://alice:hunter2@127.0.0.1:{free_port()}/v1"
    spec = parse_teacher(f"vllm-server:{refused}")
    assert "hunter2" not in spec.label
    with pytest.raises(UsageError) as caught:
        open_remote_teacher(spec).complete("s", "u", SAMPLING)
    assert "hunter2" not in str(caught.value) and "alice" not in str(caught.value)

    recorder.status = 401
    recorder.body = {"error": {"message": "bad credentials alice:hunter2", "type": "invalid_request_error"}}
    answering = recorder.url.replace("http://", "http://alice:hunter2@")
    with pytest.raises(UsageError) as caught:
        open_remote_teacher(TeacherSpec("vllm-server", answering)).complete("s", "u", SAMPLING)
    assert "hunter2" not in str(caught.value) and "alice" not in str(caught.value)
    one_line(caught.value)


@pytest.mark.parametrize("url, words", [("http://alice:hunter2@h:notaport/v1", "the URL's host or port is not valid"),
                                        ("https://alice:hunter2@h:99999", "the URL's host or port is not valid"),
                                        ("http://", "the URL names no host")])
def test_a_malformed_url_is_one_line_without_its_password(url, words):
    with pytest.raises(UsageError) as caught:
        open_remote_teacher(TeacherSpec("vllm-server", url))
    assert one_line(caught.value) == f"teacher vllm-server: {words}"


def test_a_malformed_base_url_in_the_environment_is_one_line(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://alice:hunter2@h:notaport/v1")
    with pytest.raises(UsageError) as caught:
        open_remote_teacher(TeacherSpec("openai", "m"))
    text = one_line(caught.value)  # the class the SDK raises (InvalidURL today) may change
    assert text.startswith("teacher openai:m could not be set up (") and text.endswith("); check OPENAI_BASE_URL")
    assert "hunter2" not in text and SECRET not in text
