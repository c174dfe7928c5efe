"""A chat session over a document's trained adapters: base loaded once, adapters by name.

Prompts are rendered by the same ``BaseTokenizer`` (chat template + ``system_prompt``) that
``:tokenize`` used for training, so the model sees at inference exactly the framing it learned.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from dlmbuild.errors import DlmError, UsageError
from dlmbuild.store.versions import AdapterVersion, AdapterVersions


def choose_adapter(project, requested: str | None) -> str:
    """The adapter to prompt: the one asked for, or the only one there is."""
    from dlmbuild.util.suggest import did_you_mean

    names = project.doc.config.training.adapter_names
    if requested is None:
        if len(names) == 1:
            return names[0]
        hint = "" if project.doc.config.training.gate.enabled else ", or set training.gate.enabled: true to route each prompt"
        raise UsageError(f"{project.doc.path.name} declares adapters {', '.join(names)}; choose one with --adapter NAME "
                         f"or mix them with --adapter-mix NAME:W,...{hint}")
    if requested not in names:
        raise UsageError(f"unknown adapter '{requested}'{did_you_mean(requested, names)}; "
                         f"{project.doc.path.name} declares: {', '.join(names)}")
    return requested


def current_version(project, name: str, *, run: str = "train", exit_code: int | None = None) -> AdapterVersion:
    """The adapter's current version; a DlmError naming the command to run (``dlm RUN DOC``)
    when it has none, so callers can refuse before the slow model load. ``dlm eval`` names
    ``build`` and counts the refusal as bad input (exit 2)."""
    version = AdapterVersions(project.layout.adapters, name).current()
    if version is None:
        raise DlmError(f"adapter '{name}' has not been trained yet; run 'dlm {run} {project.doc.path}'", exit_code=exit_code)
    return version


def check_same_base(project, version: AdapterVersion) -> None:
    """An adapter only means something on the base it was trained on: after ``base_model``
    changes, the current version belongs to the old base until the next build."""
    import json

    try:
        trained_on = json.loads((version.path / "adapter_config.json").read_text(encoding="utf-8")).get("base_model_name_or_path")
    except (OSError, ValueError):
        return
    base = project.base()
    if trained_on and trained_on != base.key:
        raise DlmError(f"adapter '{version.name}' {version.label} was trained on base '{trained_on}', "
                       f"but {project.doc.path.name} now uses '{base.key}'; run 'dlm train {project.doc.path}'")


@dataclass
class ChatSession:
    """The base model loaded once, with each adapter loaded on first use and kept, so
    ``/adapter`` in ``dlm repl`` switches without reloading the base, and a weighted mix (the
    gate's, or ``--adapter-mix``) costs no reload either: see ``use``."""

    project: object
    adapter: str
    model: object = None
    tokenizer: object = None
    loaded: dict[str, AdapterVersion] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)

    @classmethod
    def open(cls, project, adapter: str) -> ChatSession:
        session = cls(project, adapter)
        session.use({adapter: 1.0})
        return session

    def _load(self, name: str) -> None:
        """Load ``name``'s current version beside the others (the base on the first call)."""
        import torch
        from peft import PeftModel
        from transformers import AutoModelForCausalLM

        from dlmbuild.train.base_model import quiet_transformers
        from dlmbuild.train.tokenizer import BaseTokenizer

        if name in self.loaded:
            return
        version = current_version(self.project, name)
        check_same_base(self.project, version)
        if self.model is None:
            quiet_transformers()
            base = self.project.base()
            model = AutoModelForCausalLM.from_pretrained(str(base.path), dtype=torch.float32)
            self.model = PeftModel.from_pretrained(model, str(version.path), adapter_name=name)
            self.tokenizer = BaseTokenizer(Path(base.path))
        else:
            self.model.load_adapter(str(version.path), adapter_name=name)
        self.model.eval()
        self.loaded[name] = version

    def use(self, weights: dict[str, float]) -> None:
        """Answer with ``weights``: one adapter at 1.0, or several whose deltas add, each scaled
        by its weight (see ``infer.mixing``)."""
        from dlmbuild.infer.mixing import activate, check_weights

        for name in weights:
            self._load(name)
        check_weights(weights, {name: self.loaded[name] for name in weights})
        activate(self.model, weights)
        self.weights = dict(weights)
        self.adapter = max(weights, key=lambda n: weights[n])

    def switch(self, name: str) -> None:
        """Make ``name`` the active adapter (``None``: the only one), keeping the history."""
        self.use({choose_adapter(self.project, name): 1.0})

    @property
    def version(self) -> AdapterVersion:
        return self.loaded[self.adapter]

    def prompt_text(self, history: list[dict[str, str]], system: str | None = None) -> str:
        """The chat rendered exactly as ``:tokenize`` rendered training rows (same template,
        same fallback template, the document's system prompt first). ``system`` replaces the
        document's system prompt (``dlm eval``'s in-context baseline adds the document to it)."""
        from dlmbuild.train.tokenizer import FALLBACK_CHAT_TEMPLATE

        if system is None:
            system = self.project.doc.config.system_prompt
        messages = ([{"role": "system", "content": system}] if system else []) + history
        template = None if self.tokenizer.chat_template else FALLBACK_CHAT_TEMPLATE
        return self.tokenizer.render_chat(messages, add_generation_prompt=True, template=template)

    def reply(self, history: list[dict[str, str]], settings, on_text=lambda s: None, system: str | None = None) -> str:
        """Generate the assistant's next turn, streaming it through ``on_text``."""
        from dlmbuild.infer.generate import generate

        ids = self.tokenizer.encode(self.prompt_text(history, system))
        return generate(self.model, self.tokenizer, ids, settings, on_text)

    def ask(self, question: str, settings, on_text=lambda s: None, system: str | None = None) -> str:
        """One question without history: the single answer path ``dlm prompt`` and ``dlm eval``
        share, so an eval score measures exactly what a user would be told."""
        return self.reply([{"role": "user", "content": question}], settings, on_text, system)

    @contextmanager
    def adapter_disabled(self):
        """Answer with the untrained base inside this block (peft's ``disable_adapter``): the
        same weights, tokenizer and prompt, minus the LoRA deltas."""
        with self.model.disable_adapter():
            yield

    def context_tokens(self) -> int | None:
        """The base's context window in tokens (``max_position_embeddings``), if it says."""
        config = getattr(self.model.get_base_model(), "config", None)
        value = getattr(config, "max_position_embeddings", None)
        return value if isinstance(value, int) and value > 0 else None
