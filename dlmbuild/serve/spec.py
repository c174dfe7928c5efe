"""What ``dlm serve`` serves, as one value: from a document's build outputs, or from an exported
llama-server bundle's ``serve.json`` (the same fields, with paths relative to the bundle).

Keeping the two sources behind one value means a bundle routes exactly as ``dlm serve DOC`` does:
same gate, same routing settings, same tokenizer and system prompt.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from dlmbuild.errors import EnvironmentProblem

SPEC_FILE = "serve.json"
DEFAULT_MAX_TOKENS = 256


@dataclass(frozen=True)
class ServeSpec:
    name: str  # the model name clients ask for: the document's stem
    base_gguf: Path
    loras: dict[str, Path]  # adapter -> LoRA GGUF, in document order
    tokenizer_dir: Path  # the base's tokenizer.json and tokenizer_config.json
    system_prompt: str | None
    temperature: float
    top_p: float
    n_ctx: int
    gate_dir: Path | None = None
    routing: dict = field(default_factory=dict)
    max_tokens: int = DEFAULT_MAX_TOKENS

    @property
    def adapters(self) -> list[str]:
        return list(self.loras)

    @property
    def features_gguf(self) -> Path | None:
        """The gate's feature model (the base's first blocks), when there is a gate."""
        from dlmbuild.gate.feature_model import FEATURES_FILE

        return self.gate_dir / FEATURES_FILE if self.gate_dir is not None else None

    def to_json(self, root: Path) -> dict:
        """The spec with every path relative to ``root`` (a bundle is movable)."""
        rel = lambda p: str(Path(p).relative_to(root)) if p is not None else None  # noqa: E731
        return {"format": 1, "name": self.name, "base_gguf": rel(self.base_gguf),
                "loras": {k: rel(v) for k, v in self.loras.items()}, "tokenizer_dir": rel(self.tokenizer_dir),
                "system_prompt": self.system_prompt, "temperature": self.temperature, "top_p": self.top_p,
                "n_ctx": self.n_ctx, "gate_dir": rel(self.gate_dir), "routing": self.routing, "max_tokens": self.max_tokens}

    @classmethod
    def from_bundle(cls, root: Path) -> ServeSpec:
        path = root / SPEC_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise EnvironmentProblem(f"{path}: not a dlm serve bundle ({exc})") from None
        at = lambda p: (root / p) if p is not None else None  # noqa: E731
        return cls(name=data["name"], base_gguf=at(data["base_gguf"]), loras={k: at(v) for k, v in data["loras"].items()},
                   tokenizer_dir=at(data["tokenizer_dir"]), system_prompt=data.get("system_prompt"),
                   temperature=float(data["temperature"]), top_p=float(data["top_p"]), n_ctx=int(data["n_ctx"]),
                   gate_dir=at(data.get("gate_dir")), routing=data.get("routing") or {},
                   max_tokens=int(data.get("max_tokens", DEFAULT_MAX_TOKENS)))
