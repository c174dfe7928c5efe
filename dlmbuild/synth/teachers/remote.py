"""Teachers over HTTP: ``openai:<model>``, ``vllm-server:<url>`` and ``anthropic:<model>``.

They talk through the official SDKs (the ``synth`` extra), imported only when such a teacher is
opened, so dlm without the extra still runs everything else. Keys come from the environment,
never from the spec, and are checked when the teacher is built: a missing key is one line
before any request goes out.

Every failure becomes one line made only of the spec's label (which holds no secret), the base
URL without user-info or query, the SDK's exception class and the HTTP status. SDK messages
are never shown: they can echo request headers or URLs, and with them a key or a password.
``max_retries`` is small so that a dead server fails in seconds, not minutes.

Sampling. OpenAI-compatible servers get temperature, top_p, max_tokens and seed (``max_tokens``
rather than ``max_completion_tokens``: vLLM and llama.cpp's server read only the former, and
OpenAI still accepts it for its non-reasoning models). Anthropic gets ``max_tokens`` only: the
anthropic SDK 2.x removed temperature/top_p/top_k from ``messages.create``, and the API version
it sends (2026-10-21) answers 400 to any of them, even at their defaults. Its replies therefore
follow the model's own sampling and repeat with no seed (``TeacherSpec.local`` is False).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
from collections.abc import Iterator
from types import ModuleType

from dlmbuild.errors import DlmError, EnvironmentProblem, UsageError
from dlmbuild.infer.generate import Sampling
from dlmbuild.synth.teacher_spec import TeacherSpec

DEFAULT_TIMEOUT_S = 120.0
MAX_RETRIES = 1  # one retry for a dropped connection; a dead server still fails fast
NO_KEY = "not-needed"  # what a vllm-server teacher sends when no key is set (servers without --api-key ignore it)
INSTALL_HINT = "pip install 'dlmbuild[synth]'"
SAFE_CODE = re.compile(r"[a-z][a-z0-9_]{0,63}")  # an error body's type/code, shown only when it looks like one


def sdk(name: str) -> ModuleType:
    """The ``openai`` or ``anthropic`` package, or one line saying how to install it."""
    try:
        return importlib.import_module(name)
    except ImportError:
        raise EnvironmentProblem(f"teachers over HTTP need the '{name}' package; {INSTALL_HINT}") from None


def api_base(url: str) -> str:
    """The SDK's ``base_url`` for a ``vllm-server:`` URL. The rule: a URL with no path (or just
    '/') gets ``/v1`` appended, as vLLM serves its API there; a URL with any other path is used
    as written, so a server behind a proxy prefix keeps it. ``http://h:8000`` ->
    ``http://h:8000/v1``; ``http://h:8000/v1`` and ``https://h/llm/v1`` stay as they are."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.path.strip("/"):
        return url
    return urlunsplit((parts.scheme, parts.netloc, "/v1", parts.query, parts.fragment))


def check_url(scheme: str, url: str) -> None:
    """UsageError for a URL whose host or port cannot be read; the message quotes none of it,
    as the URL may hold a password."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        raise UsageError(f"teacher {scheme}: the URL's host or port is not valid") from None
    if not parts.hostname:
        raise UsageError(f"teacher {scheme}: the URL names no host")


def make_client(factory, label: str, url_env: str, **options):
    """The SDK client, or one line when the SDK refuses its settings (a malformed base URL)."""
    try:
        client = factory(**options)
        return client, shown_url(client.base_url)
    except Exception as exc:  # the SDK's own text may quote the URL: name only the class
        raise UsageError(f"teacher {label} could not be set up ({type(exc).__name__}); check {url_env}") from None


def shown_url(url: object) -> str:
    """A base URL as an error may show it: scheme, host, port and path only (no user-info, no
    query, which can carry a token)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(str(url))
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


@contextlib.contextmanager
def one_line_errors(module: ModuleType, label: str, where: str, timeout: float, key_env: str | None) -> Iterator[None]:
    """Turn the SDK's exceptions into one-line DlmErrors built from safe parts only. A teacher
    that cannot be reached or does not answer in time is bad input (exit 2: the command named
    it), like a wrong path; a server that answers with an error is the server's problem. ``where``
    (the shown base URL) is added when the label does not already name it."""
    at = f" ({where})" if where and where not in label else ""
    try:
        yield
    except DlmError:
        raise
    except module.APITimeoutError:
        raise UsageError(f"teacher {label} did not answer within {timeout:g} s{at}") from None
    except module.APIConnectionError:
        raise UsageError(f"could not connect to teacher {label}{at}") from None
    except module.APIStatusError as exc:
        raise status_error(exc, label, key_env) from None
    except sdk_errors(module) as exc:  # e.g. a reply that is not the JSON the SDK expects
        raise EnvironmentProblem(f"teacher {label} failed ({type(exc).__name__}){at}") from None


def sdk_errors(module: ModuleType) -> tuple[type[BaseException], ...]:
    """The SDK's base exception classes (``OpenAIError`` or ``AnthropicError``)."""
    return tuple(getattr(module, name) for name in ("OpenAIError", "AnthropicError", "APIError") if hasattr(module, name))


def status_error(exc: Exception, label: str, key_env: str | None) -> DlmError:
    status = getattr(exc, "status_code", None)
    code = error_code(getattr(exc, "body", None))
    detail = f"HTTP {status}" + (f" {code}" if code else "")
    if status == 401 and key_env is None:
        return UsageError(f"teacher {label} wants a key; set VLLM_API_KEY ({detail})")
    if status == 401:
        return UsageError(f"teacher {label} refused the key in {key_env} ({detail})")
    if status == 403:
        return UsageError(f"teacher {label} refused the request: permission denied ({detail})")
    if status == 404:
        return UsageError(f"teacher {label}: the server has no such model or endpoint ({detail})")
    if status in (400, 413, 422):
        return UsageError(f"teacher {label} rejected the request ({detail})")
    if status == 429:
        return EnvironmentProblem(f"teacher {label} is rate-limiting requests ({detail}); try again later")
    return EnvironmentProblem(f"teacher {label} failed ({detail})")


def error_code(body: object) -> str:
    """``invalid_request_error`` from ``{"error": {"type": ...}}`` (both SDKs' shapes), or ''.
    Only a short lowercase identifier passes: free text could echo what was sent."""
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            for field in ("code", "type"):
                value = inner.get(field)
                if isinstance(value, str) and SAFE_CODE.fullmatch(value):
                    return value
    return ""


def chat_messages(system: str, user: str) -> list[dict[str, str]]:
    """The OpenAI chat turn; an empty system prompt is left out rather than sent empty."""
    return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]


class OpenAITeacher:
    """``openai:<model>`` (key and base URL from ``OPENAI_API_KEY`` / ``OPENAI_BASE_URL``) and
    ``vllm-server:<url>`` (any OpenAI-compatible server; its model is the first one the server
    lists, the key ``VLLM_API_KEY`` or ``OPENAI_API_KEY`` or a placeholder)."""

    def __init__(self, spec: TeacherSpec, *, timeout: float = DEFAULT_TIMEOUT_S):
        if spec.scheme not in ("openai", "vllm-server"):
            raise UsageError(f"teacher {spec.label} is not an OpenAI-compatible teacher")
        if spec.scheme == "vllm-server":
            check_url(spec.scheme, spec.target)  # before spec.label, which reads the port
        self.label = spec.label
        self.timeout = timeout
        self._sdk = sdk("openai")
        if spec.scheme == "openai":
            self.key_env = "OPENAI_API_KEY"
            key = os.environ.get("OPENAI_API_KEY")
            if not key:
                raise UsageError(f"teacher {spec.label} needs OPENAI_API_KEY in the environment")
            self._model: str | None = spec.target
            base_url = None  # the SDK reads OPENAI_BASE_URL, else OpenAI's own
        else:
            # the env var the key came from, None when the placeholder goes out
            self.key_env = next((name for name in ("VLLM_API_KEY", "OPENAI_API_KEY") if os.environ.get(name)), None)
            key = os.environ.get(self.key_env) if self.key_env else NO_KEY
            self._model = None  # asked of the server on first use
            base_url = api_base(spec.target)
        url_env = "OPENAI_BASE_URL" if spec.scheme == "openai" else "the URL"
        self._client, self.where = make_client(self._sdk.OpenAI, spec.label, url_env, api_key=key, base_url=base_url,
                                               timeout=timeout, max_retries=MAX_RETRIES)

    @property
    def model(self) -> str:
        """The model requests name: the spec's, or the first the server lists (vllm-server)."""
        if self._model is None:
            with self._errors():
                listed = [m.id for m in self._client.models.list()]
            if not listed:
                raise EnvironmentProblem(f"teacher {self.label} serves no model ({self.where}/models is empty)")
            self._model = listed[0]
        return self._model

    def complete(self, system: str, user: str, sampling: Sampling) -> str:
        model = self.model
        with self._errors():
            reply = self._client.chat.completions.create(
                model=model, messages=chat_messages(system, user), temperature=sampling.temperature,
                top_p=sampling.top_p, max_tokens=sampling.max_new_tokens, seed=sampling.seed)
        if not reply.choices:
            return ""
        return reply.choices[0].message.content or ""

    def close(self) -> None:
        self._client.close()

    def _errors(self):
        return one_line_errors(self._sdk, self.label, self.where, self.timeout, self.key_env)


class AnthropicTeacher:
    """``anthropic:<model>``: key from ``ANTHROPIC_API_KEY`` (or ``ANTHROPIC_AUTH_TOKEN``), base URL
    from ``ANTHROPIC_BASE_URL``, both read by the SDK. Sends ``max_tokens`` and no sampling
    parameters (see the module docstring); the reply is its text blocks joined."""

    def __init__(self, spec: TeacherSpec, *, timeout: float = DEFAULT_TIMEOUT_S):
        if spec.scheme != "anthropic":
            raise UsageError(f"teacher {spec.label} is not an Anthropic teacher")
        self.label = spec.label
        self.model = spec.target
        self.timeout = timeout
        self._sdk = sdk("anthropic")
        self.key_env = "ANTHROPIC_API_KEY" if os.environ.get("ANTHROPIC_API_KEY") else "ANTHROPIC_AUTH_TOKEN"
        if not (os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_AUTH_TOKEN")):
            raise UsageError(f"teacher {spec.label} needs ANTHROPIC_API_KEY in the environment")
        self._client, self.where = make_client(self._sdk.Anthropic, spec.label, "ANTHROPIC_BASE_URL",
                                               timeout=timeout, max_retries=MAX_RETRIES)

    def complete(self, system: str, user: str, sampling: Sampling) -> str:
        extra = {"system": system} if system else {}
        with one_line_errors(self._sdk, self.label, self.where, self.timeout, self.key_env):
            message = self._client.messages.create(
                model=self.model, max_tokens=sampling.max_new_tokens,
                messages=[{"role": "user", "content": user}], **extra)
        return "".join(block.text for block in message.content if getattr(block, "type", None) == "text")

    def close(self) -> None:
        self._client.close()


def open_remote_teacher(spec: TeacherSpec, *, timeout: float = DEFAULT_TIMEOUT_S) -> OpenAITeacher | AnthropicTeacher:
    """The teacher for an ``openai:``, ``anthropic:`` or ``vllm-server:`` spec. Checks the key
    (UsageError) and the SDK (EnvironmentProblem); sends nothing yet."""
    if spec.scheme in ("openai", "vllm-server"):
        return OpenAITeacher(spec, timeout=timeout)
    if spec.scheme == "anthropic":
        return AnthropicTeacher(spec, timeout=timeout)
    raise UsageError(f"teacher {spec.label} is not a teacher over HTTP")
