"""The document's model as a ``Service``: model names to adapter weights, chats rendered and
tokenised as training saw them, tokens from the llama.cpp worker decoded as they stream.

- ``<doc>`` routes through the gate when there is one (the last user message is what it reads);
  without a gate it is the document's default export: every adapter at weight 1.0.
- ``<doc>:<adapter>`` pins one adapter at 1.0.
- The prompt is rendered by dlm's own renderer from the base's chat template with the
  document's system prompt (unless the request brings a system message) and tokenised by the
  base's tokenizer, exactly as ``dlm prompt`` does; so at temperature 0 a pinned adapter answers
  as ``dlm prompt --temp 0`` does, up to llama.cpp's F16 arithmetic.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from dlmbuild.serve.service import BadRequest, Completion, Params, UnknownModel
from dlmbuild.serve.spec import ServeSpec


class DocService:
    def __init__(self, spec: ServeSpec, engine, log=lambda line: None):
        from dlmbuild.train.tokenizer import BaseTokenizer

        self.spec = spec
        self.engine = engine
        self.log = log
        self.tokenizer = BaseTokenizer(spec.tokenizer_dir)
        self.gate = None
        self.routing = None
        if spec.gate_dir is not None:
            from dlmbuild.gate.router import Gate, Routing

            self.gate = Gate.load(spec.gate_dir)
            self.routing = Routing.from_dict(spec.routing)
        self.route_seconds = 0.0  # total time spent routing, for benchmarks/serve.py

    # -- names and weights -------------------------------------------------------------------

    def model_ids(self) -> list[str]:
        return [self.spec.name] + [f"{self.spec.name}:{a}" for a in self.spec.adapters]

    def weights_for(self, model: str, text: str) -> dict[str, float]:
        if model == self.spec.name:
            if self.gate is None:
                return {name: 1.0 for name in self.spec.adapters}
            started = time.perf_counter()
            weights = self.gate.route(self.engine.embed(text), self.routing)
            self.route_seconds += time.perf_counter() - started
            return weights
        doc, _, adapter = model.partition(":")
        if doc == self.spec.name and adapter in self.spec.loras:
            return {adapter: 1.0}
        raise UnknownModel(model, self.model_ids())

    # -- requests ----------------------------------------------------------------------------

    def chat(self, model: str, messages: list[dict[str, str]], params: Params) -> Completion:
        from dlmbuild.train.tokenizer import FALLBACK_CHAT_TEMPLATE

        users = [m for m in messages if m.get("role") == "user"]
        if not users:
            raise BadRequest("messages: at least one message must have role 'user'")
        self._check_model(model)
        history = list(messages)
        if self.spec.system_prompt and not any(m.get("role") == "system" for m in history):
            history.insert(0, {"role": "system", "content": self.spec.system_prompt})
        template = None if self.tokenizer.chat_template else FALLBACK_CHAT_TEMPLATE
        text = self.tokenizer.render_chat(history, add_generation_prompt=True, template=template)
        return self._complete(model, self.tokenizer.encode(text), users[-1]["content"], params)

    def complete(self, model: str, prompt: str, params: Params) -> Completion:
        self._check_model(model)
        return self._complete(model, self.tokenizer.encode(prompt), prompt, params)

    def _check_model(self, model: str) -> None:
        if model not in self.model_ids():
            raise UnknownModel(model, self.model_ids())

    def _complete(self, model: str, ids: list[int], routed_text: str, params: Params) -> Completion:
        max_tokens = params.max_tokens or self.spec.max_tokens
        if not ids:
            raise BadRequest("the prompt is empty")
        if len(ids) + max_tokens > self.spec.n_ctx:
            raise BadRequest(f"the prompt is {len(ids)} tokens; with max_tokens {max_tokens} it exceeds the context of "
                             f"{self.spec.n_ctx} tokens")
        weights = self.weights_for(model, routed_text)
        cancelled = threading.Event()  # never set: closing the pieces generator is how a request ends early
        completion = Completion(model=model, pieces=iter(()), adapters=weights, prompt_tokens=len(ids))
        tokens = self.engine.generate(
            ids, weights, max_tokens=max_tokens,
            temperature=self.spec.temperature if params.temperature is None else params.temperature,
            top_p=self.spec.top_p if params.top_p is None else params.top_p,
            seed=0 if params.seed is None else params.seed, cancelled=cancelled)
        completion.pieces = self._pieces(tokens, completion, params.stop)
        completion.close = completion.pieces.close
        return completion

    def _pieces(self, tokens: Iterator, completion: Completion, stops: tuple[str, ...]) -> Iterator[str]:
        """Text pieces as soon as they decode cleanly, cut at the first stop string (the last
        characters, which could still become one, are held back until they cannot). Closing
        this generator closes ``tokens``, which stops the worker and frees it for the next request."""
        out: list[int] = []
        shown = ""
        hold = max((len(s) for s in stops), default=1) - 1
        reason = "stop"
        try:
            for item in tokens:
                if isinstance(item, str):
                    reason = "length" if item == "length" else "stop"
                    break
                out.append(item)
                completion.completion_tokens = len(out)
                text = self.tokenizer.decode(out)
                if text.endswith("\ufffd"):
                    continue  # the rest of a multi-byte character is on its way
                cut = _first_stop(text, stops)
                ready = cut if cut is not None else len(text) - hold
                if ready > len(shown):
                    yield text[len(shown):ready]
                    shown = text[:ready]
                if cut is not None:
                    break
            text = self.tokenizer.decode(out)
            cut = _first_stop(text, stops)
            text = text if cut is None else text[:cut]
            if len(text) > len(shown):
                yield text[len(shown):]
        finally:
            tokens.close()
        completion.finish_reason = reason


def _first_stop(text: str, stops: tuple[str, ...]) -> int | None:
    found = [text.find(s) for s in stops if s and s in text]
    return min(found) if found else None
