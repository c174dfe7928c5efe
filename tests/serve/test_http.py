"""dlmbuild.serve.http: the OpenAI-compatible front, driven by the official ``openai`` client and
by raw HTTP, over a fake service that echoes the last user message word by word."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from dataclasses import dataclass, field

import openai
import pytest

from dlmbuild.serve.http import MAX_BODY, make_server
from dlmbuild.serve.service import BadRequest, Completion, Params, UnknownModel

KEY = "sk-test-secret-key"
ADAPTERS = {"facts": 0.75, "style": 0.25}
PROMPT_TOKENS = 7


class FakeService:
    """Echoes the last message (or the prompt) word by word. ``boom`` fails, ``forever`` generates
    until cancelled; ``delay`` makes each generation hold a lock for that long, as a real service
    serialises requests to one model."""

    def __init__(self, delay: float = 0.0):
        self.delay = delay
        self.calls: list[tuple[str, str, object, Params]] = []
        self.cancelled = threading.Event()
        self.lock = threading.Lock()
        self.waiting = 0
        self.most_waiting = 0
        self.guard = threading.Lock()

    def model_ids(self) -> list[str]:
        return ["doc", "doc:facts", "doc:style"]

    def chat(self, model: str, messages: list[dict[str, str]], params: Params) -> Completion:
        self._check(model, params)
        self.calls.append(("chat", model, messages, params))
        return self._answer(model, messages[-1]["content"], params)

    def complete(self, model: str, prompt: str, params: Params) -> Completion:
        self._check(model, params)
        self.calls.append(("complete", model, prompt, params))
        return self._answer(model, prompt, params)

    def _check(self, model: str, params: Params) -> None:
        if model not in self.model_ids():
            raise UnknownModel(model, self.model_ids())
        if params.max_tokens is not None and params.max_tokens > 1000:
            raise BadRequest("max_tokens must be at most 1000 for this model")

    def _answer(self, model: str, text: str, params: Params) -> Completion:
        if text == "boom":
            raise RuntimeError("the model caught fire\nwith a second line")
        if text == "midway":
            return Completion(model, self._midway(), dict(ADAPTERS), PROMPT_TOKENS, 0, close=self.cancelled.set)
        if text == "forever":
            return Completion(model, self._forever(), dict(ADAPTERS), PROMPT_TOKENS, 0, close=self.cancelled.set)
        words = text.split()
        completion = Completion(model, iter(()), dict(ADAPTERS), PROMPT_TOKENS, 0)
        completion.pieces = self._pieces(completion, words, params)
        return completion

    def _pieces(self, completion: Completion, words: list[str], params: Params):
        with self.guard:
            self.waiting += 1
            self.most_waiting = max(self.most_waiting, self.waiting)
        with self.lock:
            with self.guard:
                self.waiting -= 1
            time.sleep(self.delay)
            for i, word in enumerate(words):
                if params.max_tokens is not None and i == params.max_tokens:
                    completion.finish_reason = "length"
                    return
                completion.completion_tokens += 1
                yield word if i == 0 else " " + word

    def _midway(self):
        yield "partial"
        raise RuntimeError("out of memory")

    def _forever(self):
        deadline = time.monotonic() + 20  # never hang the test run, whatever happens
        while not self.cancelled.is_set() and time.monotonic() < deadline:
            yield "more "
            time.sleep(0.002)


@dataclass
class Running:
    port: int
    service: FakeService
    lines: list[str] = field(default_factory=list)
    connections: int = 0

    def client(self, api_key: str = KEY) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"http://127.0.0.1:{self.port}/v1", api_key=api_key, max_retries=0, timeout=10)


@pytest.fixture
def start():
    """``start(service=None, api_key=KEY, **options)``: a server on a free port, in a thread;
    every one is shut down after the test."""
    servers = []

    def run(service: FakeService | None = None, api_key: str | None = KEY, **options) -> Running:
        running = Running(0, service or FakeService())
        server = make_server(running.service, "127.0.0.1", 0, api_key=api_key, log=running.lines.append, **options)
        running.port = server.server_address[1]
        accept = server.get_request

        def counted():
            running.connections += 1
            return accept()

        server.get_request = counted
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        servers.append(server)
        return running

    yield run
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def live(start) -> Running:
    return start()


@pytest.fixture
def client(live):
    with live.client() as c:
        yield c


def raw(port: int, method: str, path: str, body: object = None, *, key: str | None = KEY,
        headers: dict | None = None) -> tuple[int, dict, object]:
    """One request over a fresh connection: status, headers, and the body parsed as JSON."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        sent = dict(headers or {})
        if key is not None:
            sent["Authorization"] = f"Bearer {key}"
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        conn.request(method, path, body=data, headers=sent)
        response = conn.getresponse()
        payload = response.read()
        return response.status, dict(response.getheaders()), json.loads(payload) if payload else None
    finally:
        conn.close()


def chat_body(text: str = "hello there world", **extra) -> dict:
    return {"model": "doc", "messages": [{"role": "user", "content": text}], **extra}


# ---- the endpoints, through the official client


def test_models_lists_every_model_of_the_service(start):
    running = start(model_owner="alice")
    with running.client() as client:
        first, second = client.models.list(), client.models.list()
    assert [m.id for m in first.data] == ["doc", "doc:facts", "doc:style"]
    assert {m.owned_by for m in first.data} == {"alice"} and {m.object for m in first.data} == {"model"}
    assert isinstance(first.data[0].created, int)
    assert [m.created for m in first.data] == [m.created for m in second.data]  # fixed at start


def test_chat_answers_with_content_usage_and_adapter_weights(live, client):
    response = client.chat.completions.create(model="doc:facts", messages=[
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "the answer is forty two"},
    ])
    assert response.object == "chat.completion" and response.id.startswith("chatcmpl-")
    assert response.model == "doc:facts"
    assert response.choices[0].message.role == "assistant"
    assert response.choices[0].message.content == "the answer is forty two"
    assert response.choices[0].finish_reason == "stop"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens, response.usage.total_tokens) == (7, 5, 12)
    assert response.model_extra["dlm"] == {"adapters": ADAPTERS}
    kind, model, messages, _ = live.service.calls[-1]
    assert (kind, model) == ("chat", "doc:facts")
    assert messages == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "the answer is forty two"}]


def test_each_request_logs_one_line_without_key_or_body(live, client):
    client.chat.completions.create(model="doc", messages=[{"role": "user", "content": "private words"}])
    raw(live.port, "GET", "/health", key=None)
    assert len(live.lines) == 2
    assert live.lines[0].startswith("POST /v1/chat/completions 200 model=doc adapters=facts:0.75,style:0.25 ")
    assert live.lines[1].startswith("GET /health 200 ")
    assert all(line.endswith("s") for line in live.lines)
    assert not any(KEY in line or "private" in line for line in live.lines)


def test_completions_continue_the_prompt(live, client):
    response = client.completions.create(model="doc", prompt="once upon a time", max_tokens=3)
    assert response.object == "text_completion" and response.id.startswith("cmpl-")
    assert response.choices[0].text == "once upon a"
    assert response.choices[0].finish_reason == "length"
    assert response.choices[0].logprobs is None
    assert response.usage.total_tokens == PROMPT_TOKENS + 3
    assert response.model_extra["dlm"] == {"adapters": ADAPTERS}
    assert live.service.calls[-1][:3] == ("complete", "doc", "once upon a time")


def test_a_prompt_may_be_a_list_of_one_string(live, client):
    response = client.completions.create(model="doc", prompt=["just one"])
    assert response.choices[0].text == "just one"


def test_chat_streams_pieces_then_finish_reason_then_usage(live, client):
    stream = client.chat.completions.create(model="doc", messages=[{"role": "user", "content": "one two three four"}],
                                            stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    assert {c.object for c in chunks} == {"chat.completion.chunk"}
    assert len({c.id for c in chunks}) == 1 and chunks[0].id.startswith("chatcmpl-")
    assert chunks[0].choices[0].delta.role == "assistant"
    with_choices = [c for c in chunks if c.choices]
    assert "".join(c.choices[0].delta.content or "" for c in with_choices) == "one two three four"
    assert [c.choices[0].finish_reason for c in with_choices] == [None] * 5 + ["stop"]
    assert with_choices[-1].model_extra["dlm"] == {"adapters": ADAPTERS}
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == PROMPT_TOKENS + 4


def test_chat_stream_without_usage_ends_on_the_finish_reason(client):
    chunks = list(client.chat.completions.create(model="doc", messages=[{"role": "user", "content": "a b"}], stream=True))
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.choices for c in chunks)


def test_completion_streams_text_pieces(client):
    chunks = list(client.completions.create(model="doc", prompt="alpha beta gamma", stream=True,
                                            stream_options={"include_usage": True}))
    assert {c.object for c in chunks} == {"text_completion"}
    assert "".join(c.choices[0].text for c in chunks if c.choices) == "alpha beta gamma"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].usage.completion_tokens == 3


def test_stream_is_chunked_sse_ending_in_done(live):
    conn = http.client.HTTPConnection("127.0.0.1", live.port, timeout=5)
    conn.request("POST", "/v1/chat/completions", body=json.dumps(chat_body("x y", stream=True)),
                 headers={"Authorization": f"Bearer {KEY}"})
    response = conn.getresponse()
    assert response.getheader("Transfer-Encoding") == "chunked"
    assert response.getheader("Content-Type") == "text/event-stream"
    assert response.getheader("Cache-Control") == "no-cache"
    events = response.read().decode().split("\n\n")
    conn.close()
    assert events[-2:] == ["data: [DONE]", ""]
    assert all(e.startswith("data: ") for e in events[:-1])
    assert json.loads(events[0][6:])["choices"][0]["delta"] == {"role": "assistant", "content": ""}


def test_one_connection_serves_many_requests(live):
    """Keep-alive: plain, streamed and error responses all leave the connection usable."""
    conn = http.client.HTTPConnection("127.0.0.1", live.port, timeout=5)
    auth = {"Authorization": f"Bearer {KEY}"}
    statuses = []
    for body in (chat_body(), chat_body(stream=True), {**chat_body(), "model": "nope"}, chat_body(temperature=9), chat_body()):
        conn.request("POST", "/v1/chat/completions", body=json.dumps(body), headers=auth)
        response = conn.getresponse()
        response.read()
        statuses.append(response.status)
        if len(statuses) == 1:
            first_socket = conn.sock
            assert response.getheader("Content-Type") == "application/json"
            assert int(response.getheader("Content-Length")) > 0
        assert conn.sock is first_socket  # not reconnected
    conn.close()
    assert statuses == [200, 200, 404, 400, 200]


def test_the_openai_client_reuses_its_connection(live, client):
    client.models.list()
    client.chat.completions.create(model="doc", messages=[{"role": "user", "content": "a"}])
    client.completions.create(model="doc", prompt="c")
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="nope", prompt="c")
    client.models.list()
    assert live.connections == 1
    # The sync client stops reading a stream at [DONE] and drops that connection (its choice: the
    # server ends the chunked body properly, see test_one_connection_serves_many_requests); the
    # next request opens a fresh one, which the server serves as any other.
    list(client.chat.completions.create(model="doc", messages=[{"role": "user", "content": "b"}], stream=True))
    after = client.chat.completions.create(model="doc", messages=[{"role": "user", "content": "d"}])
    assert after.choices[0].message.content == "d"
    assert live.connections <= 2


# ---- the key


def test_a_wrong_key_is_refused_without_being_echoed(live):
    with live.client(api_key="sk-wrong-key") as client, pytest.raises(openai.AuthenticationError) as caught:
        client.models.list()
    assert caught.value.code == "invalid_api_key"
    assert "sk-wrong-key" not in str(caught.value) and KEY not in str(caught.value)


def test_no_key_is_refused_everywhere_but_health(live):
    status, headers, body = raw(live.port, "GET", "/v1/models", key=None)
    assert status == 401 and headers["Content-Type"] == "application/json"
    assert body["error"]["type"] == "invalid_request_error" and body["error"]["code"] == "invalid_api_key"
    assert body["error"]["param"] is None
    assert raw(live.port, "POST", "/v1/chat/completions", chat_body(), key=None)[0] == 401
    assert raw(live.port, "GET", "/health", key=None)[::2] == (200, {"status": "ok"})


def test_without_a_server_key_no_key_is_needed(start):
    running = start(api_key=None)
    status, _, body = raw(running.port, "POST", "/v1/chat/completions", chat_body("hi"), key=None)
    assert status == 200 and body["choices"][0]["message"]["content"] == "hi"


# ---- errors


def test_an_unknown_model_is_404_and_the_server_goes_on(client):
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="doc:fact", messages=[{"role": "user", "content": "hi"}])
    assert "did you mean 'doc:facts'" in caught.value.message
    assert caught.value.code == "model_not_found"
    again = client.chat.completions.create(model="doc", messages=[{"role": "user", "content": "still here"}])
    assert again.choices[0].message.content == "still here"


def test_malformed_json_is_400_and_the_server_goes_on(live):
    status, _, body = raw(live.port, "POST", "/v1/chat/completions", b'{"model": "doc", "messages": [')
    assert status == 400 and body["error"]["type"] == "invalid_request_error" and "JSON" in body["error"]["message"]
    status, _, body = raw(live.port, "POST", "/v1/chat/completions", b'["not", "an", "object"]')
    assert status == 400 and "object" in body["error"]["message"]
    assert raw(live.port, "GET", "/health")[0] == 200


def test_an_out_of_range_temperature_is_400_naming_the_field(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="doc", messages=[{"role": "user", "content": "hi"}], temperature=5)
    assert caught.value.param == "temperature" and "temperature" in caught.value.message


@pytest.mark.parametrize(("extra", "param"), [
    ({"model": 3}, "model"),
    ({"messages": []}, "messages"),
    ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].role"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]}, "messages[0].content"),
    ({"max_tokens": 0}, "max_tokens"),
    ({"max_completion_tokens": "many"}, "max_completion_tokens"),
    ({"top_p": 0}, "top_p"),
    ({"top_p": 1.5}, "top_p"),
    ({"temperature": True}, "temperature"),
    ({"seed": 1.5}, "seed"),
    ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ({"stop": [1]}, "stop"),
    ({"stream": "yes"}, "stream"),
    ({"n": 2}, "n"),
])
def test_bad_chat_fields_are_400_naming_the_field(live, extra, param):
    status, _, body = raw(live.port, "POST", "/v1/chat/completions", {**chat_body(), **extra})
    assert status == 400 and body["error"]["param"] == param
    assert live.service.calls == []


def test_a_prompt_list_of_two_is_400(live):
    status, _, body = raw(live.port, "POST", "/v1/completions", {"model": "doc", "prompt": ["a", "b"]})
    assert status == 400 and body["error"]["param"] == "prompt"


def test_the_service_refusal_is_400_with_its_message(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.completions.create(model="doc", prompt="hi", max_tokens=5000)
    assert "at most 1000" in caught.value.message


def test_a_failing_service_is_500_in_one_line_and_the_server_goes_on(live, client, capfd):
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="doc", messages=[{"role": "user", "content": "boom"}])
    assert caught.value.body["type"] == "server_error"
    assert "caught fire" in caught.value.message and "second line" not in caught.value.message
    assert client.models.list().data
    assert any(" 500 " in line and "RuntimeError: the model caught fire" in line for line in live.lines)
    assert "Traceback" not in capfd.readouterr().err


def test_a_service_failing_mid_stream_sends_an_error_event(live, client, capfd):
    stream = client.chat.completions.create(model="doc", messages=[{"role": "user", "content": "midway"}], stream=True)
    with pytest.raises(openai.APIError) as caught:
        list(stream)
    assert "out of memory" in caught.value.message
    assert live.service.cancelled.is_set()
    assert client.models.list().data
    assert "Traceback" not in capfd.readouterr().err


def test_unknown_paths_are_404_and_wrong_methods_405(live):
    status, _, body = raw(live.port, "GET", "/v1/engines")
    assert status == 404 and "error" in body
    status, headers, body = raw(live.port, "GET", "/v1/chat/completions")
    assert status == 405 and headers["Allow"] == "POST" and "error" in body
    assert raw(live.port, "DELETE", "/v1/models")[0] == 405


def test_a_post_needs_a_length_and_a_body_under_the_cap(live):
    with socket.create_connection(("127.0.0.1", live.port), timeout=5) as sock:
        sock.sendall(f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
                     f"Content-Length: {MAX_BODY + 1}\r\n\r\n".encode())
        head = sock.recv(65536).decode()
    assert head.startswith("HTTP/1.1 413 ") and "Connection: close" in head
    with socket.create_connection(("127.0.0.1", live.port), timeout=5) as sock:
        sock.sendall(f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n\r\n".encode())
        head = sock.recv(65536).decode()
    assert head.split(" ")[1] in ("411", "400")


def test_a_taken_port_raises_oserror(live):
    with pytest.raises(OSError):
        make_server(FakeService(), "127.0.0.1", live.port, api_key=None)


# ---- what reaches the service


def test_sampling_fields_reach_the_service_as_params(live, client):
    client.chat.completions.create(model="doc", messages=[{"role": "user", "content": "hi"}],
                                   temperature=0.3, top_p=0.9, seed=42, max_tokens=64, stop=["\n\n", "END"])
    assert live.service.calls[-1][3] == Params(max_tokens=64, temperature=0.3, top_p=0.9, seed=42, stop=("\n\n", "END"))
    client.completions.create(model="doc", prompt="hi", stop="END", max_tokens=8)
    assert live.service.calls[-1][3] == Params(max_tokens=8, stop=("END",))
    client.chat.completions.create(model="doc", messages=[{"role": "user", "content": "hi"}], max_completion_tokens=16)
    assert live.service.calls[-1][3] == Params(max_tokens=16)


def test_content_parts_are_joined_and_extra_fields_ignored(live, client):
    client.chat.completions.create(model="doc", user="someone", logit_bias={}, messages=[
        {"role": "developer", "content": "terse"},
        {"role": "user", "content": [{"type": "text", "text": "first part"}, {"type": "text", "text": "second"}]},
    ])
    assert live.service.calls[-1][2] == [
        {"role": "system", "content": "terse"},
        {"role": "user", "content": "first part\nsecond"},
    ]


# ---- concurrency and hang-ups


def test_eight_concurrent_requests_are_all_answered(start):
    running = start(FakeService(delay=0.05))
    answers: dict[int, str] = {}
    errors: list[BaseException] = []

    def ask(client: openai.OpenAI, i: int) -> None:
        messages = [{"role": "user", "content": f"request {i}"}]
        try:
            if i % 2:
                stream = client.chat.completions.create(model="doc", messages=messages, stream=True)
                answers[i] = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
            else:
                response = client.chat.completions.create(model="doc", messages=messages)
                answers[i] = response.choices[0].message.content
        except BaseException as error:  # noqa: BLE001  (reported by the assertion below)
            errors.append(error)

    with running.client() as client:
        threads = [threading.Thread(target=ask, args=(client, i)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=10)
    assert errors == []
    assert answers == {i: f"request {i}" for i in range(8)}
    assert running.service.most_waiting >= 2  # requests reached the service while another generated


def test_a_client_that_hangs_up_mid_stream_cancels_generation(live, capfd):
    with socket.create_connection(("127.0.0.1", live.port), timeout=5) as sock:
        body = json.dumps(chat_body("forever", stream=True)).encode()
        sock.sendall(f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
                     f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        received = b""
        while b"more" not in received:
            received += sock.recv(4096)
    assert received.startswith(b"HTTP/1.1 200 ")
    assert live.service.cancelled.wait(5)
    assert raw(live.port, "GET", "/health")[0] == 200
    deadline = time.monotonic() + 2
    while not any("client went away" in line for line in live.lines) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert any("client went away" in line for line in live.lines)
    assert "Traceback" not in capfd.readouterr().err
