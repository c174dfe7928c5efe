"""OpenAI's wire format for ``dlm serve``: checking a request's fields, and the shapes of
results, streamed chunks and errors. No sockets here: ``http`` owns the connection, this module
owns what goes over it, so both can be read (and tested) on their own.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

from dlmbuild.serve.service import Completion, Params

ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
MAX_STOP = 4


class HttpError(Exception):
    """A request answered with an OpenAI-style error body instead of a result."""

    def __init__(self, status: int, message: str, *, kind: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None, headers: tuple[tuple[str, str], ...] = ()):
        super().__init__(message)
        self.status, self.message, self.kind, self.param, self.code, self.headers = status, message, kind, param, code, headers

    def body(self) -> dict:
        return error_body(self.message, kind=self.kind, param=self.param, code=self.code)


def error_body(message: str, *, kind: str = "invalid_request_error", param: str | None = None, code: str | None = None) -> dict:
    """OpenAI's error shape, which clients parse into their exception's message."""
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


# ---- requests: checking OpenAI's fields


@dataclass(frozen=True)
class CommonFields:
    """The fields chat and plain completions share, checked."""

    model: str
    params: Params
    stream: bool
    include_usage: bool


def common_fields(body: dict) -> CommonFields:
    """Model, sampling and streaming fields, each checked; fields OpenAI defines but dlm does not
    use (``user``, ``logit_bias``, ...) are ignored, as clients send many of them by default."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _invalid("model", "'model' is required: a model name from GET /v1/models")
    max_tokens = _int_field(body, "max_completion_tokens", minimum=1)
    if max_tokens is None:
        max_tokens = _int_field(body, "max_tokens", minimum=1)
    n = _int_field(body, "n", minimum=1)
    if n not in (None, 1):
        raise _invalid("n", f"'n' must be 1: this server generates one choice per request (got {n})")
    params = Params(
        max_tokens=max_tokens,
        temperature=_number_field(body, "temperature", 0.0, 2.0),
        top_p=_number_field(body, "top_p", 0.0, 1.0, exclusive_low=True),
        seed=_int_field(body, "seed"),
        stop=stop_strings(body.get("stop")),
    )
    stream = _bool_field(body, "stream")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise _invalid("stream_options", "'stream_options' must be an object")
    include_usage = _bool_field(options or {}, "include_usage", name="stream_options.include_usage")
    return CommonFields(model, params, stream, include_usage)


def chat_messages(value) -> list[dict[str, str]]:
    """``[{role, content}]`` with text content. Content given as parts joins its text parts
    with newlines (as vLLM does); ``developer`` (OpenAI's newer name for system) is system."""
    if not isinstance(value, list) or not value:
        raise _invalid("messages", "'messages' must be a non-empty list of {role, content} objects")
    messages = []
    for i, message in enumerate(value):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise _invalid(where, f"'{where}' must be an object with 'role' and 'content'")
        role = message.get("role")
        if role not in ROLES:
            raise _invalid(f"{where}.role", f"'{where}.role' must be system, user or assistant (got {_short(role)})")
        messages.append({"role": ROLES[role], "content": _content_text(message.get("content"), f"{where}.content")})
    return messages


def _content_text(content, where: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise _invalid(where, f"'{where}' may hold only text parts ({{\"type\": \"text\", \"text\": ...}})")
            texts.append(part["text"])
        return "\n".join(texts)
    raise _invalid(where, f"'{where}' must be a string or a list of text parts")


def prompt_text(value) -> str:
    """The prompt: a string, or a list holding one string (token arrays and batches are not served)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], str):
        return value[0]
    raise _invalid("prompt", "'prompt' must be a string (or a list holding exactly one string)")


def stop_strings(value) -> tuple[str, ...]:
    """``stop`` as a tuple; empty strings are dropped (they could never mean anything)."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise _invalid("stop", "'stop' must be a string or a list of strings")
    if len(value) > MAX_STOP:
        raise _invalid("stop", f"'stop' holds at most {MAX_STOP} strings (got {len(value)})")
    return tuple(s for s in value if s)


def _int_field(body: dict, name: str, *, minimum: int | None = None) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # 256.0 from a client that keeps numbers as floats
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(name, f"'{name}' must be an integer (got {_short(value)})")
    if minimum is not None and value < minimum:
        raise _invalid(name, f"'{name}' must be at least {minimum} (got {value})")
    return value


def _number_field(body: dict, name: str, low: float, high: float, *, exclusive_low: bool = False) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _invalid(name, f"'{name}' must be a number (got {_short(value)})")
    if value > high or value < low or (exclusive_low and value == low):
        bounds = f"above {low:g} and at most {high:g}" if exclusive_low else f"between {low:g} and {high:g}"
        raise _invalid(name, f"'{name}' must be {bounds} (got {value:g})")
    return float(value)


def _bool_field(body: dict, key: str, *, name: str | None = None) -> bool:
    value = body.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _invalid(name or key, f"'{name or key}' must be true or false (got {_short(value)})")
    return value


def _invalid(param: str, message: str) -> HttpError:
    return HttpError(400, message, param=param)


def _short(value) -> str:
    """A field's value for an error message, cut short (it came from JSON, so it dumps back)."""
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


# ---- responses: OpenAI's shapes


def response_head(ident: str, model: str) -> dict:
    """The fields every response and every chunk of one request share."""
    return {"id": ident, "created": int(time.time()), "model": model}


def _usage(completion: Completion) -> dict:
    prompt, generated = completion.prompt_tokens, completion.completion_tokens
    return {"prompt_tokens": prompt, "completion_tokens": generated, "total_tokens": prompt + generated}


def result_body(head: dict, kind: str, choice: dict, completion: Completion) -> dict:
    return {
        "id": head["id"], "object": kind, "created": head["created"], "model": head["model"],
        "choices": [choice], "usage": _usage(completion), "dlm": {"adapters": dict(completion.adapters)},
    }


def chat_chunks(completion: Completion, head: dict, include_usage: bool) -> Iterator[dict]:
    """``chat.completion.chunk`` events: the role, one per piece, the finish reason (with the
    adapters' weights), then the usage when asked for. Pieces are generated as this is iterated."""

    def chunk(delta: dict, finish_reason: str | None = None) -> dict:
        return {**head, "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}

    yield chunk({"role": "assistant", "content": ""})
    for piece in completion.pieces:
        if piece:
            yield chunk({"content": piece})
    yield {**chunk({}, completion.finish_reason), "dlm": {"adapters": dict(completion.adapters)}}
    if include_usage:
        yield {**head, "object": "chat.completion.chunk", "choices": [], "usage": _usage(completion)}


def text_chunks(completion: Completion, head: dict, include_usage: bool) -> Iterator[dict]:
    """``text_completion`` events: one per piece, the finish reason, then the usage when asked for."""

    def chunk(text: str, finish_reason: str | None = None) -> dict:
        return {**head, "object": "text_completion",
                "choices": [{"index": 0, "text": text, "finish_reason": finish_reason, "logprobs": None}]}

    for piece in completion.pieces:
        if piece:
            yield chunk(piece)
    yield {**chunk("", completion.finish_reason), "dlm": {"adapters": dict(completion.adapters)}}
    if include_usage:
        yield {**head, "object": "text_completion", "choices": [], "usage": _usage(completion)}


def error_line(error: BaseException | None) -> str:
    """``Type: first line of the message``, short enough for a log line or an error body."""
    if error is None:
        return "unknown error"
    lines = str(error).strip().splitlines()
    text = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
    return text if len(text) <= 200 else text[:197] + "..."
