"""The grounding judge: keep a pair when its answer comes from its section, not from the teacher.

The base model scores the answer twice, as the reply to the question: once with the section in
its system prompt and once with an empty prompt. The gain is the difference of the two mean
log-probabilities per answer token (nats). An answer the section states gains a lot; an answer
the teacher made up, or general knowledge the base already has, gains little or nothing. The
reference tool calls its version of this "sway". It needs no extra model and works offline.
"""

from __future__ import annotations

DEFAULT_THRESHOLD = 0.5  # nats per token; see docs/synth.md for the figures behind it
CONTEXT_SYSTEM = "Answer the question from this text.\n\n{passage}"


def grounding_gain(scorer, passage: str, question: str, answer: str) -> float:
    """``scorer`` is a ``LocalChatModel``; it scores with any adapter switched off."""
    with scorer.base_only():
        grounded = scorer.answer_logprob(CONTEXT_SYSTEM.format(passage=passage), question, answer)
        bare = scorer.answer_logprob("", question, answer)
    return grounded - bare
