"""Answering probes with a model: the only module of ``dlmbuild.eval`` that needs torch.

Each system answers through ``ChatSession.ask``, the path ``dlm prompt`` takes, greedily:
``adapter`` is the current adapter version; ``base`` is the same model with the adapter
disabled (same weights, tokenizer and prompt); ``in-context`` is the base with the document's
text in its system prompt. One open session serves every system, so a benchmark loads the model
once and runs as many systems as it likes::

    session = open_session(Project.open(doc, materialize_base=True), "default")
    adapter = answer_questions(session, questions, "adapter", max_new_tokens=48)
    base = answer_questions(session, questions, "base", max_new_tokens=48)
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from dlmbuild.eval.context import compose_system, document_text, longest_fitting_prefix
from dlmbuild.eval.report import SYSTEMS
from dlmbuild.infer.generate import Sampling

# When the base does not say how long its context is, assume a window every supported base has.
DEFAULT_CONTEXT_TOKENS = 2048


@dataclass(frozen=True)
class InContext:
    """The in-context baseline's system prompt and how much of the document it kept."""

    system: str
    chars_kept: int
    chars_total: int
    context_tokens: int

    def as_dict(self) -> dict:
        return {"chars_kept": self.chars_kept, "chars_total": self.chars_total, "context_tokens": self.context_tokens}


def open_session(project, adapter: str):
    """The model of ``project`` with ``adapter``'s current version loaded (see ChatSession)."""
    from dlmbuild.infer.session import ChatSession

    return ChatSession.open(project, adapter)


def greedy(max_new_tokens: int) -> Sampling:
    """Temperature 0: an eval answer is the model's single most likely answer, repeatable."""
    return Sampling(max_new_tokens=max_new_tokens, temperature=0.0, top_p=1.0, seed=0)


def in_context(session, questions: list[str], max_new_tokens: int) -> InContext:
    """The document's system prompt plus as much of the document's text as fits, with the
    longest question and ``max_new_tokens`` of answer, in the base's context window."""
    doc = session.project.doc
    text = document_text(doc, session.adapter)
    own = doc.config.system_prompt
    limit = session.context_tokens() or DEFAULT_CONTEXT_TOKENS
    encode = session.tokenizer.encode
    longest = max(questions, key=lambda q: len(encode(q)), default="")

    def fits(chars: int) -> bool:
        history = [{"role": "user", "content": longest}]
        prompt = session.prompt_text(history, compose_system(own, text[:chars]))
        return len(encode(prompt)) + max_new_tokens <= limit

    kept = longest_fitting_prefix(len(text), fits)
    return InContext(compose_system(own, text[:kept]), kept, len(text), limit)


def answer_questions(session, questions: list[str], system: str = "adapter", *, max_new_tokens: int = 256,
                     context: InContext | None = None, on_answer: Callable[[str], None] = lambda text: None) -> list[str]:
    """Greedy answers of one ``system`` (``adapter``, ``base`` or ``in-context``) to each
    question, in order; ``on_answer`` sees each answer as it is done (a progress counter).
    ``context`` reuses an ``in_context(...)`` already computed (to report its size)."""
    if system not in SYSTEMS:
        raise ValueError(f"unknown system {system!r}; one of {', '.join(SYSTEMS)}")
    settings = greedy(max_new_tokens)
    prompt = None
    if system == "in-context":
        prompt = (context or in_context(session, questions, max_new_tokens)).system
    answers = []
    with contextlib.nullcontext() if system == "adapter" else session.adapter_disabled():
        for question in questions:
            answers.append(session.ask(question, settings, system=prompt))
            on_answer(answers[-1])
    return answers
