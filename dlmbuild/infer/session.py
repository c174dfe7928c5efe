"""A chat session over a document's trained adapters: base loaded once, adapters by name.

Prompts are rendered by the same ``BaseTokenizer`` (chat template + ``system_prompt``) that
``:tokenize`` used for training, so the model sees at inference exactly the framing it learned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from dlmbuild.errors import DlmError, UsageError
from dlmbuild.store.versions import AdapterVersion, AdapterVersions


def choose_adapter(project, requested: str | None) -> str:
    """The adapter to prompt: the one asked for, or the only one there is."""
    names = project.doc.config.training.adapter_names
    if requested is None:
        if len(names) == 1:
            return names[0]
        raise UsageError(f"{project.doc.path.name} declares adapters {', '.join(names)}; choose one with --adapter NAME")
    if requested not in names:
        raise UsageError(f"unknown adapter '{requested}'; {project.doc.path.name} declares: {', '.join(names)}")
    return requested


def current_version(project, name: str) -> AdapterVersion:
    version = AdapterVersions(project.layout.adapters, name).current()
    if version is None:
        raise DlmError(f"adapter '{name}' has not been trained yet; run 'dlm train {project.doc.path}'")
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
    project: object
    adapter: str
    model: object = None
    tokenizer: object = None
    loaded: dict[str, AdapterVersion] = field(default_factory=dict)

    @classmethod
    def open(cls, project, adapter: str) -> ChatSession:
        session = cls(project, adapter)
        session._load(adapter)
        return session

    def _load(self, name: str) -> None:
        import torch
        from peft import PeftModel
        from transformers import AutoModelForCausalLM

        from dlmbuild.train.base_model import quiet_transformers
        from dlmbuild.train.tokenizer import BaseTokenizer

        version = current_version(self.project, name)
        check_same_base(self.project, version)
        if self.model is None:
            quiet_transformers()
            base = self.project.base()
            model = AutoModelForCausalLM.from_pretrained(str(base.path), dtype=torch.float32)
            self.model = PeftModel.from_pretrained(model, str(version.path), adapter_name=name)
            self.tokenizer = BaseTokenizer(Path(base.path))
        elif name not in self.loaded:
            self.model.load_adapter(str(version.path), adapter_name=name)
        self.model.set_adapter(name)
        self.model.eval()
        self.loaded[name] = version
        self.adapter = name

    def switch(self, name: str) -> None:
        self._load(choose_adapter(self.project, name))

    @property
    def version(self) -> AdapterVersion:
        return self.loaded[self.adapter]

    def prompt_text(self, history: list[dict[str, str]]) -> str:
        from dlmbuild.rules.tokenize import FALLBACK_CHAT_TEMPLATE

        system = self.project.doc.config.system_prompt
        messages = ([{"role": "system", "content": system}] if system else []) + history
        template = None if self.tokenizer.chat_template else FALLBACK_CHAT_TEMPLATE
        return self.tokenizer.render_chat(messages, add_generation_prompt=True, template=template)

    def reply(self, history: list[dict[str, str]], settings, on_text=lambda s: None) -> str:
        from dlmbuild.infer.generate import generate

        ids = self.tokenizer.encode(self.prompt_text(history))
        return generate(self.model, self.tokenizer, ids, settings, on_text)
