"""The base's tokenizer and chat template, loaded without transformers.

``tokenizers`` (Rust) reads ``tokenizer.json`` in ~0.1 s, where importing transformers alone
takes ~3.5 s; that difference is most of an incremental ``:tokenize``. The chat template is
rendered with jinja2 in a sandbox set up the way Hugging Face chat templates expect (trim and
lstrip blocks, loop controls, ``raise_exception``, ``tojson``), and the same renderer serves
training, ``dlm prompt`` and export, so all three see identical prompts. A slow test checks it
against transformers' ``apply_chat_template`` on the real base.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from dlmbuild.bases.fingerprint import chat_template_text
from dlmbuild.errors import EnvironmentProblem, Location

# Used only when a base ships no chat template of its own (ChatML, as SmolLM2 and Qwen use).
FALLBACK_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

class BaseTokenizer:
    def __init__(self, folder: Path):
        self.folder = Path(folder)
        path = self.folder / "tokenizer.json"
        if not path.is_file():
            raise EnvironmentProblem("base has no tokenizer.json (dlm needs a fast tokenizer)", Location(self.folder))
        from tokenizers import Tokenizer

        self._tok = Tokenizer.from_file(str(path))
        self.config = _read_json(self.folder / "tokenizer_config.json")
        # The same lookup that fingerprints the template for dlm.lock: what is hashed is what renders.
        self.chat_template = chat_template_text(self.folder)
        self.eos_token = _token_text(self.config.get("eos_token"))
        self.bos_token = _token_text(self.config.get("bos_token"))
        self.eos_token_id = self._tok.token_to_id(self.eos_token) if self.eos_token else None

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` with no special tokens added."""
        return self._tok.encode(text, add_special_tokens=False).ids

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        return self._tok.decode(ids, skip_special_tokens=skip_special_tokens)

    @cached_property
    def _template(self):
        return compile_template(self.chat_template) if self.chat_template else None

    def render_chat(self, messages: list[dict[str, str]], add_generation_prompt: bool = False, template: str | None = None) -> str:
        compiled = compile_template(template) if template else self._template
        if compiled is None:
            raise EnvironmentProblem("base has no chat template", Location(self.folder))
        return compiled.render(
            messages=messages,
            add_generation_prompt=add_generation_prompt,
            eos_token=self.eos_token or "",
            bos_token=self.bos_token or "",
        )


def compile_template(source: str):
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str):
        raise EnvironmentProblem(f"chat template error: {message}")

    def tojson(value, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(fmt: str) -> str:
        # Templates that print today's date would make rows depend on the wall clock; pin it.
        return datetime(2024, 1, 1).strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env.from_string(source)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, json.JSONDecodeError):
        return {}


def _token_text(value: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("content")
    return value if isinstance(value, str) else None
