"""The HTTP front of ``dlm serve``: OpenAI's wire format over the standard library's HTTP server.

Only the standard library, because the front must start fast and carry no web framework: ``dlm
serve`` is a command people run next to their document, and its cost is the model, not the
front. ``ThreadingHTTPServer`` gives one thread per connection; the service serialises work on
a model itself, so eight clients waiting on one model are eight threads blocked in the service.

The front knows HTTP and OpenAI's shapes (``/v1/models``, ``/v1/chat/completions``,
``/v1/completions``, their errors and their streamed chunks) and nothing about models, adapters
or gates: it checks the request's fields, hands a ``Params`` to the ``Service`` of service.py and
writes what comes back. The adapters' weights travel as an opaque ``dlm`` field.

Streaming is Server-Sent Events in HTTP/1.1 chunked encoding, so the connection stays usable for
the next request (the ``openai`` client pools connections). A client that hangs up mid-stream
cancels its generation; one that hangs up anywhere else costs a quiet log line, no traceback.
"""

from __future__ import annotations

import hmac
import json
import socket
import socketserver
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from dlmbuild.serve.openai_wire import (HttpError, chat_chunks, chat_messages, common_fields, error_body, error_line,
                                        prompt_text, response_head, result_body, text_chunks)
from dlmbuild.serve.service import BadRequest, Completion, Service, UnknownModel

MAX_BODY = 8 * 1024 * 1024
# An idle keep-alive connection is dropped after this long. Clients drop theirs sooner (httpx
# after 5 s), so the server rarely closes a connection a client is about to reuse.
IDLE_TIMEOUT_S = 75.0


def make_server(
    service: Service,
    host: str,
    port: int,
    *,
    api_key: str | None,
    model_owner: str = "dlm",
    log: Callable[[str], None] = lambda line: None,
) -> ThreadingHTTPServer:
    """A bound server for ``service`` (``OSError`` when the port is taken); the caller runs
    ``serve_forever()`` and ``shutdown()``. ``log`` gets one line per request, never a key or
    a body."""
    return _Server((host, port), service, api_key=api_key, model_owner=model_owner, log=log)


class _Server(ThreadingHTTPServer):
    """The listening socket plus what every request handler needs to know."""

    daemon_threads = True  # a client holding a keep-alive connection must not keep dlm running
    allow_reuse_address = True  # a restarted ``dlm serve`` gets its port back at once

    def __init__(self, address, service: Service, *, api_key: str | None, model_owner: str, log: Callable[[str], None]):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.service = service
        self.api_key = api_key.encode("utf-8") if api_key else None
        self.model_owner = model_owner
        self.log = log
        self.started = int(time.time())  # the models' ``created``: fixed, so listings compare equal
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        """Bind without ``HTTPServer``'s ``getfqdn`` lookup, a DNS round trip that can take
        seconds and serves only CGI."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request, client_address) -> None:
        """A client that vanished is normal; anything else escaping a handler is a bug in the
        front, reported in one line so the server keeps serving and stderr stays clean."""
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError, _ClientGone)):
            return
        self.log(f"error serving {client_address[0]}: {error_line(error)}")


class _ClientGone(Exception):
    """Writing to the client failed: it closed the connection. Kept apart from the service's
    own ``ConnectionError``s (a model server of its own going away is a 500, not a hang-up)."""


class _Handler(BaseHTTPRequestHandler):
    """One connection: requests in turn until the client closes it or a response must close it."""

    protocol_version = "HTTP/1.1"
    server_version = "dlm-serve"
    sys_version = ""
    timeout = IDLE_TIMEOUT_S
    server: _Server

    ROUTES = {
        "/health": {"GET": "_health"},
        "/v1/models": {"GET": "_models"},
        "/v1/chat/completions": {"POST": "_chat"},
        "/v1/completions": {"POST": "_complete"},
    }

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_GET

    # ---- the life of one request

    def _handle(self) -> None:
        self._began = time.perf_counter()
        self._status, self._model, self._adapters, self._note = 0, None, None, None
        self._body_read = False
        self._responded = False
        try:
            path = urlsplit(self.path).path.rstrip("/") or "/"
            if (self.command, path) != ("GET", "/health"):
                self._authorize()
            getattr(self, self._route(path))()
        except HttpError as error:
            self._answer_error(error)
        except _ClientGone:
            self.close_connection = True
            self._note = "client went away"
        except Exception as error:  # a bug in the front: one line, and the server keeps serving
            self._note = error_line(error)
            if self._responded:
                self.close_connection = True  # the response is half written: only closing ends it
            else:
                self._answer_error(HttpError(500, f"internal error: {error_line(error)}", kind="server_error"))
        finally:
            self._log_request()

    def _route(self, path: str) -> str:
        methods = self.ROUTES.get(path)
        if methods is None:
            raise HttpError(404, f"no such endpoint: {self.command} {path}", code="unknown_url")
        if self.command not in methods:
            allowed = ", ".join(methods)
            raise HttpError(405, f"{path} accepts {allowed}, not {self.command}", code="method_not_allowed",
                            headers=(("Allow", allowed),))
        return methods[self.command]

    def _authorize(self) -> None:
        """The bearer token against the server's key, in constant time; the token the client
        sent is never repeated back."""
        expected = self.server.api_key
        if expected is None:
            return
        header = self.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if not header:
            message = "missing API key: send 'Authorization: Bearer <key>' with the key this server was started with"
        elif scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode("utf-8"), expected):
            message = "invalid API key: it is not the key this server was started with"
        else:
            return
        raise HttpError(401, message, code="invalid_api_key", headers=(("WWW-Authenticate", "Bearer"),))

    def _read_json(self) -> dict:
        """The request body as a JSON object: a length is required (no chunked uploads) and
        capped, so one request cannot hold a thread reading forever or fill memory."""
        length = self.headers.get("Content-Length")
        if length is None or "Transfer-Encoding" in self.headers:
            raise HttpError(411, "a request body needs a Content-Length header (chunked uploads are not supported)")
        try:
            size = int(length)
        except ValueError:
            raise HttpError(400, f"Content-Length is not a number: {length[:40]!r}") from None
        if size < 0:
            raise HttpError(400, "Content-Length is negative")
        if size > MAX_BODY:
            raise HttpError(413, f"request body of {size} bytes is over the limit of {MAX_BODY} bytes")
        raw = self._read(size)
        self._body_read = True
        try:
            body = json.loads(raw) if raw else None
        except (ValueError, RecursionError) as error:
            raise HttpError(400, f"the body is not valid JSON: {error_line(error)}") from None
        if not isinstance(body, dict):
            raise HttpError(400, "the body must be a JSON object")
        return body

    def _read(self, size: int) -> bytes:
        try:
            data = self.rfile.read(size)
        except (ConnectionError, TimeoutError):
            raise _ClientGone() from None
        if len(data) < size:
            raise _ClientGone()
        return data

    # ---- endpoints

    def _health(self) -> None:
        self._send_json(200, {"status": "ok"})

    def _models(self) -> None:
        ids = self._ask(self.server.service.model_ids)
        created, owner = self.server.started, self.server.model_owner
        models = [{"id": name, "object": "model", "created": created, "owned_by": owner} for name in ids]
        self._send_json(200, {"object": "list", "data": models})

    def _chat(self) -> None:
        body = self._read_json()
        common = common_fields(body)
        messages = chat_messages(body.get("messages"))

        def choice(text: str, completion: Completion) -> dict:
            return {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": completion.finish_reason}

        self._answer(common, lambda: self.server.service.chat(common.model, messages, common.params),
                     "chatcmpl", "chat.completion", chat_chunks, choice)

    def _complete(self) -> None:
        body = self._read_json()
        common = common_fields(body)
        prompt = prompt_text(body.get("prompt"))

        def choice(text: str, completion: Completion) -> dict:
            return {"index": 0, "text": text, "finish_reason": completion.finish_reason, "logprobs": None}

        self._answer(common, lambda: self.server.service.complete(common.model, prompt, common.params),
                     "cmpl", "text_completion", text_chunks, choice)

    def _answer(self, common, call: Callable, prefix: str, kind: str, chunks: Callable, choice: Callable) -> None:
        """Ask the service, then stream its pieces as ``chunks`` or send one ``kind`` result."""
        self._model = common.model
        completion = self._ask(call)
        self._adapters = completion.adapters
        head = response_head(f"{prefix}-{uuid.uuid4().hex}", common.model)
        if common.stream:
            self._stream(completion, chunks(completion, head, common.include_usage))
            return
        text = self._collect(completion)
        self._send_json(200, result_body(head, kind, choice(text, completion), completion))

    # ---- the service's answers and failures

    def _ask(self, call: Callable):
        """Call the service, turning its refusals into 404/400 and its failures into a 500."""
        try:
            return call()
        except UnknownModel as error:
            raise HttpError(404, str(error), param="model", code="model_not_found") from None
        except BadRequest as error:
            raise HttpError(400, str(error)) from None
        except Exception as error:
            self._note = error_line(error)
            raise HttpError(500, f"the model failed: {error_line(error)}", kind="server_error") from None

    def _collect(self, completion: Completion) -> str:
        """The whole answer, for a non-streamed response."""
        try:
            return "".join(completion.pieces)
        except Exception as error:
            completion.cancel()
            self._note = error_line(error)
            raise HttpError(500, f"the model failed while generating: {error_line(error)}", kind="server_error") from None

    def _stream(self, completion: Completion, events: Iterator[dict]) -> None:
        """Write ``events`` as they are generated. A client that hangs up cancels the
        generation; a service that fails mid-way gets an error event (the status is already 200)."""
        try:
            self._start_event_stream()
            try:
                for event in events:
                    self._write_event(event)
            except _ClientGone:
                raise
            except Exception as error:
                completion.cancel()
                self._note = error_line(error)
                self._write_event(error_body(f"the model failed while generating: {error_line(error)}", kind="server_error"))
                self._end_event_stream()
                return
            self._write_chunk(b"data: [DONE]\n\n")
            self._end_event_stream()
        except _ClientGone:
            completion.cancel()
            self.close_connection = True
            self._note = "client went away; generation cancelled"

    # ---- writing responses

    def _send_json(self, status: int, payload: dict, headers: tuple[tuple[str, str], ...] = ()) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self._status = status
        self._responded = True
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        if self._body_unread():
            self.send_header("Connection", "close")  # the unread body would be taken for the next request
        self._end_headers()
        if self.command != "HEAD":
            self._write(data)

    def _answer_error(self, error: HttpError) -> None:
        if self._responded:
            self.close_connection = True
            return
        if error.status >= 500 and self._note is None:
            self._note = error.message
        try:
            self._send_json(error.status, error.body(), error.headers)
        except _ClientGone:
            self.close_connection = True

    def _body_unread(self) -> bool:
        if self._body_read:
            return False
        if "Transfer-Encoding" in self.headers:
            return True
        try:
            return int(self.headers.get("Content-Length", "0")) != 0
        except ValueError:
            return True

    def _start_event_stream(self) -> None:
        self._status = 200
        self._responded = True
        self._chunked = self.request_version != "HTTP/1.0"  # HTTP/1.0 has no chunks: the close ends the body
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("X-Accel-Buffering", "no")  # a reverse proxy must pass events on at once
        if self._chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Connection", "close")
        self._end_headers()

    def _write_event(self, payload: dict) -> None:
        self._write_chunk(b"data: " + json.dumps(payload, ensure_ascii=False).encode("utf-8") + b"\n\n")

    def _write_chunk(self, data: bytes) -> None:
        self._write(b"%x\r\n%s\r\n" % (len(data), data) if self._chunked else data)

    def _end_event_stream(self) -> None:
        if self._chunked:
            self._write(b"0\r\n\r\n")

    def _end_headers(self) -> None:
        try:
            self.end_headers()
        except (ConnectionError, TimeoutError):
            raise _ClientGone() from None

    def _write(self, data: bytes) -> None:
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except (ConnectionError, TimeoutError):
            raise _ClientGone() from None

    # ---- the standard library's own paths, made quiet and JSON-speaking

    def handle_one_request(self) -> None:
        """A client that hangs up between or inside requests ends the connection, silently."""
        try:
            super().handle_one_request()
        except (ConnectionError, TimeoutError, _ClientGone):
            self.close_connection = True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The standard library's errors (a malformed request line, headers too long, an
        unknown method) in OpenAI's shape, closing the connection as the stdlib does."""
        self._body_read = False
        self._responded = False
        self.close_connection = True
        self._began, self._model, self._adapters, self._note = time.perf_counter(), None, None, None
        text = message or self.responses.get(code, ("error",))[0]
        try:
            self._send_json(code, error_body(text), (("Connection", "close"),))
        except _ClientGone:
            pass
        self._log_request()

    def log_request(self, code="-", size="-") -> None:
        """Silent: ``_log_request`` writes the one line a request gets, with its model."""

    def log_message(self, format: str, *args) -> None:
        self.server.log(f"{self.address_string()}: {format % args}")

    def _log_request(self) -> None:
        method = getattr(self, "command", None) or "-"
        path = urlsplit(getattr(self, "path", "") or "-").path  # no query string: it is the client's to keep
        parts = [method, path, str(self._status or "-")]
        if self._model is not None:
            parts.append(f"model={self._model}")
        if self._adapters:
            parts.append("adapters=" + ",".join(f"{name}:{weight:.2f}" for name, weight in self._adapters.items()))
        parts.append(f"{time.perf_counter() - self._began:.2f}s")
        if self._note:
            parts.append(f"({self._note})")
        self.server.log(" ".join(parts))
