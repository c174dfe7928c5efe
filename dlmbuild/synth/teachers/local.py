"""Teachers that run in this process through transformers: ``base``, ``self`` and ``hf:``.

All three are a ``LocalChatModel``: a causal LM, dlm's ``BaseTokenizer`` and the generation loop
``dlm prompt`` uses, so a seeded sample is repeatable. The same object scores answers for the
grounding judge (``answer_logprob``), with any adapter switched off (``base_only``), so the
``base`` teacher and the judge share one loaded model.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from dlmbuild.errors import UsageError
from dlmbuild.infer.generate import Sampling


@dataclass
class LocalChatModel:
    label: str
    model: object
    tokenizer: object  # dlmbuild.train.tokenizer.BaseTokenizer
    has_adapter: bool = False

    def render(self, system: str, user: str, answer: str | None = None) -> list[int]:
        """Token ids of the chat turn (and, given ``answer``, the answer appended as the
        assistant's reply), rendered the way training and ``dlm prompt`` render it."""
        from dlmbuild.train.tokenizer import FALLBACK_CHAT_TEMPLATE

        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
        template = None if self.tokenizer.chat_template else FALLBACK_CHAT_TEMPLATE
        ids = self.tokenizer.encode(self.tokenizer.render_chat(messages, add_generation_prompt=True, template=template))
        return ids if answer is None else ids + self.tokenizer.encode(answer)

    def complete(self, system: str, user: str, sampling: Sampling) -> str:
        from dlmbuild.infer.generate import generate

        return generate(self.model, self.tokenizer, self.render(system, user), sampling)

    def continue_text(self, prefix: str, sampling: Sampling) -> str:
        """Raw continuation of ``prefix``, no chat template (the statement mode's few-shot list)."""
        from dlmbuild.infer.generate import generate

        return generate(self.model, self.tokenizer, self.tokenizer.encode(prefix), sampling)

    def answer_logprob(self, system: str, question: str, answer: str) -> float:
        """Mean log-probability per token of ``answer`` as the reply to ``question``."""
        import torch

        prompt = self.render(system, question)
        ids = self.render(system, question, answer)
        n = len(ids) - len(prompt)
        if n <= 0:
            return 0.0
        with torch.inference_mode():
            logits = self.model(input_ids=torch.tensor([ids])).logits[0, len(prompt) - 1 : -1].float()
            picked = torch.log_softmax(logits, dim=-1).gather(1, torch.tensor(ids[len(prompt):]).unsqueeze(1))
        return float(picked.mean())

    @contextlib.contextmanager
    def base_only(self):
        """The base model inside this block, whatever adapter is loaded."""
        if self.has_adapter:
            with self.model.disable_adapter():
                yield
        else:
            yield

    def close(self) -> None:
        self.model = None


def load_causal_lm(folder: Path, label: str) -> LocalChatModel:
    import torch
    from transformers import AutoModelForCausalLM

    from dlmbuild.train.base_model import quiet_transformers
    from dlmbuild.train.tokenizer import BaseTokenizer

    quiet_transformers()
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
    model.eval()
    return LocalChatModel(label, model, BaseTokenizer(folder))


def open_base(project) -> LocalChatModel:
    """The document's base model, untrained: the cold-start teacher and the judge."""
    return load_causal_lm(Path(project.base().path), "base")


def open_self(project, adapter: str) -> LocalChatModel:
    """The document's current adapter version (a ``DlmError`` naming ``dlm build`` before any
    training, raised before the model loads)."""
    from dlmbuild.errors import EXIT_BAD_INPUT
    from dlmbuild.infer.session import ChatSession, current_version

    current_version(project, adapter, run="build", exit_code=EXIT_BAD_INPUT)
    session = ChatSession.open(project, adapter)
    return LocalChatModel("self", session.model, session.tokenizer, has_adapter=True)


def resolve_hf(target: str) -> Path:
    """A local folder, or a model id already in the local Hugging Face cache (never
    downloaded); UsageError (one line) otherwise."""
    path = Path(target).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise UsageError(f"teacher hf:{target}: {path} has no config.json (not a transformers model folder)")
        return path
    if target.startswith((".", "/", "~")) or target.count("/") != 1:
        raise UsageError(f"teacher hf:{target}: no such folder")
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(target, local_files_only=True))
    except Exception:  # noqa: BLE001 - any miss is the same answer: not on this machine
        raise UsageError(f"teacher hf:{target}: not a folder and not in the local Hugging Face cache "
                         "(dlm never downloads; pass a local path)") from None


def open_hf(target: str) -> LocalChatModel:
    folder = resolve_hf(target)
    return load_causal_lm(folder, f"hf:{folder.name}")
