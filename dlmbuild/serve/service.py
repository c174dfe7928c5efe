"""What the HTTP front asks of a model service, so the front knows HTTP and OpenAI's shapes and
nothing about adapters, gates or llama.cpp (and tests can drive it with any service).

A service lists its models, and answers a chat or a plain completion as a ``Completion``: an
iterator of text pieces (streamed as they are generated) plus the counts and the finish reason,
known once the pieces are exhausted. It raises ``UnknownModel`` (HTTP 404) or ``BadRequest``
(HTTP 400) before generating anything.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol


class UnknownModel(LookupError):
    """The request names a model this server does not serve."""

    def __init__(self, name: str, known: list[str]):
        from dlmbuild.util.suggest import did_you_mean

        super().__init__(f"model '{name}' does not exist{did_you_mean(name, known)}; this server serves: {', '.join(known)}")
        self.name = name


class BadRequest(ValueError):
    """The request is well-formed JSON but asks for something invalid (a field's type or range)."""


@dataclass(frozen=True)
class Params:
    """Sampling settings of one request, already checked (``None``: the document's default)."""

    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()


@dataclass
class Completion:
    """One answer being generated. Iterate ``pieces`` to drive generation; afterwards
    ``finish_reason`` is ``"stop"`` or ``"length"`` and the token counts are final.
    ``adapters`` is the weight each adapter got for this request (the gate's choice, or the
    pinned adapter at 1.0); ``close()`` stops generation early (a client that went away)."""

    model: str
    pieces: Iterator[str]
    adapters: dict[str, float] = field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = "stop"
    close: object = None  # a callable, or None

    def cancel(self) -> None:
        if callable(self.close):
            self.close()


class Service(Protocol):
    def model_ids(self) -> list[str]:
        """Every model name requests may use: the document, then ``<doc>:<adapter>`` for each adapter."""

    def chat(self, model: str, messages: list[dict[str, str]], params: Params) -> Completion:
        """Answer the last user turn of ``messages`` (OpenAI chat roles: system, user, assistant)."""

    def complete(self, model: str, prompt: str, params: Params) -> Completion:
        """Continue ``prompt`` as raw text (no chat template)."""
