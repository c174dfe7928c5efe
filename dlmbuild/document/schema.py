"""The frontmatter schema: every key a .dlm document may set, with its range and default.

Every model forbids unknown keys, so a typo (``lora_rr``) is an error with a suggestion rather
than a silently ignored setting. Defaults are tuned for small documents on a CPU; ``"auto"``
values are resolved by the training planner from the document's size and the machine.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from dlmbuild.bases.registry import REGISTRY, is_path_reference
from dlmbuild.export.kinds import BUNDLE_KINDS
from dlmbuild.util.suggest import did_you_mean

CURRENT_DLM_VERSION = 2
ULID_PATTERN = r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$"
ADAPTER_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"
DEFAULT_ADAPTER = "default"
QUANTS = ("Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0", "F16")

_HF_ID = re.compile(r"^hf:[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w.-]+)?$")
_MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


TargetModules = Literal["auto"] | Annotated[list[str], Field(min_length=1)]
Auto = Literal["auto"]


def _check_modules(value: Any) -> Any:
    if isinstance(value, list):
        for name in value:
            if not isinstance(name, str) or not _MODULE_NAME.match(name):
                raise ValueError(f"'{name}' is not a module name")
    return value


class PreferenceConfig(_Strict):
    """Preference tuning on ``::preference::`` triples after supervised training (the
    ``:prefer-<adapter>`` target; train/preference_plan.py resolves ``auto``)."""

    enabled: bool = False
    method: Literal["dpo", "orpo"] = "dpo"
    beta: Annotated[float, Field(gt=0, le=10)] = 0.1
    learning_rate: Annotated[float, Field(gt=0, le=1)] = 1e-4
    num_epochs: Annotated[int, Field(ge=1, le=1000)] | Auto = "auto"
    steps: Annotated[int, Field(ge=1, le=1_000_000)] | Auto = "auto"


class PreferenceSpec(_Strict):
    """An adapter's own ``preference`` block; anything unset inherits ``training.preference``."""

    enabled: bool | None = None
    method: Literal["dpo", "orpo"] | None = None
    beta: Annotated[float, Field(gt=0, le=10)] | None = None
    learning_rate: Annotated[float, Field(gt=0, le=1)] | None = None
    num_epochs: Annotated[int, Field(ge=1, le=1000)] | Auto | None = None
    steps: Annotated[int, Field(ge=1, le=1_000_000)] | Auto | None = None


class AdapterSpec(_Strict):
    """Per-adapter LoRA knobs; anything left unset inherits from ``training``."""

    adapter: Literal["lora", "qlora", "dora"] | None = None
    lora_r: Annotated[int, Field(ge=1, le=512)] | None = None
    lora_alpha: Annotated[float, Field(gt=0, le=4096)] | None = None
    lora_dropout: Annotated[float, Field(ge=0, lt=1)] | None = None
    target_modules: TargetModules | None = None
    learning_rate: Annotated[float, Field(gt=0, le=1)] | Auto | None = None
    num_epochs: Annotated[int, Field(ge=1, le=1000)] | Auto | None = None
    preference: PreferenceSpec | None = None

    _modules = field_validator("target_modules")(_check_modules)


class SourceSpec(_Strict):
    """One ``training.sources`` entry: a file or folder whose text files become prose sections."""

    path: Annotated[str, Field(min_length=1)]
    include: list[str] = ["**/*"]
    exclude: list[str] = []
    max_bytes_per_file: Annotated[int, Field(ge=1, le=64 * 1024 * 1024)] = 256 * 1024
    max_files: Annotated[int, Field(ge=1, le=1_000_000)] = 50_000
    adapter: str | None = None  # route every file of this source to one adapter


class GateConfig(_Strict):
    """A learned router that picks adapter weights per prompt (multi-adapter documents).

    ``hidden_size``, ``steps`` and ``learning_rate`` shape the training of ``:gate``; the rest
    shape how its output becomes weights at prompt and serve time, and retrain nothing:
    ``temperature`` divides the gate's logits before the softmax (higher mixes more),
    ``top_k`` keeps the k heaviest adapters and renormalises (1: route to one adapter),
    ``fallback`` is the adapter used alone when the heaviest weight is below ``min_confidence``.
    """

    enabled: bool = False
    hidden_size: Annotated[int, Field(ge=4, le=4096)] = 64
    steps: Annotated[int, Field(ge=1, le=100_000)] = 200
    learning_rate: Annotated[float, Field(gt=0, le=1)] = 1e-3
    temperature: Annotated[float, Field(gt=0, le=100)] = 1.0
    top_k: Annotated[int, Field(ge=1, le=64)] = 1
    fallback: str | None = None
    min_confidence: Annotated[float, Field(ge=0, le=1)] = 0.0

    def routing(self) -> dict:
        """The settings that turn gate probabilities into weights (no retraining when they change)."""
        return {"temperature": self.temperature, "top_k": self.top_k, "fallback": self.fallback,
                "min_confidence": self.min_confidence}

    def training_slice(self) -> dict:
        """The settings that change the trained gate: what enters ``:gate``'s key."""
        return {"hidden_size": self.hidden_size, "steps": self.steps, "learning_rate": self.learning_rate}


class ReplayConfig(_Strict):
    """Mixing previously trained section versions back in, so edits do not erase old knowledge."""

    enabled: bool = True
    fraction: Annotated[float, Field(ge=0, le=1)] = 0.25
    max_rows: Annotated[int, Field(ge=0, le=1_000_000)] = 2000


class AnchorConfig(_Strict):
    """Keep the base's general ability: a KL penalty to the base on built-in general text."""

    enabled: bool = True
    weight: Annotated[float, Field(ge=0, le=100)] = 1.0


class AugmentConfig(_Strict):
    """Questions the base writes for itself before training (train/augment.py): other wordings
    of each Q/A question, and a question for each prose sentence, answered by the sentence."""

    rephrasings: Annotated[int, Field(ge=0, le=8)] = 3
    # off: the 135M base's prose questions were mostly nonsense and taught vague questions to
    # answer with unrelated sentences (benchmarks/quality.py, docs/training.md)
    prose_questions: Annotated[int, Field(ge=0, le=5000)] = 0


class CacheConfig(_Strict):
    """The tokenized-section cache."""

    enabled: bool = True
    max_bytes: Annotated[int, Field(ge=1024 * 1024)] = 2 * 1024**3


class TrainingConfig(_Strict):
    adapter: Literal["lora", "qlora", "dora"] = "lora"
    lora_r: Annotated[int, Field(ge=1, le=512)] = 8
    lora_alpha: Annotated[float, Field(gt=0, le=4096)] = 16
    lora_dropout: Annotated[float, Field(ge=0, lt=1)] = 0.0  # 0.05 costs 38 % more time per CPU step (measured)
    target_modules: TargetModules = "auto"
    sequence_len: Annotated[int, Field(ge=32, le=131072)] = 512
    # One 512-token block per forward, four accumulated per optimizer step: on a CPU a bigger
    # micro-batch computes no faster per token but holds its activations at once (measured on
    # the 135M base, 2 threads, bf16: 1x4 takes 10.1 s/step and peaks at 2.4 GB without
    # checkpointing; 4x1 takes 14.5 s and 3.2 GB with it). Same objective either way: the loss is
    # the step's token mean.
    micro_batch_size: Annotated[int, Field(ge=1, le=1024)] = 1
    grad_accum: Annotated[int, Field(ge=1, le=1024)] = 4
    learning_rate: Annotated[float, Field(gt=0, le=1)] | Auto = "auto"
    num_epochs: Annotated[int, Field(ge=1, le=1000)] | Auto = "auto"
    max_steps: Annotated[int, Field(ge=1, le=10_000_000)] | None = None
    lr_scheduler: Literal["cosine", "linear", "constant", "constant_with_warmup"] = "cosine"
    warmup_ratio: Annotated[float, Field(ge=0, le=0.5)] = 0.1
    optimizer: Literal["adamw", "adamw_8bit", "sgd", "adafactor"] = "adamw"
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    # Recompute activations in the backward pass: less memory for about 45 % more time per step
    # (measured, 135M base: 1.6 against 2.4 GB peak at 1 x 512 tokens; 2.6 against 4.8 GB at
    # 4 x 512). Same bytes either way. Off by default: one block per forward fits without it.
    gradient_checkpointing: bool = False
    seed: Annotated[int, Field(ge=0, lt=2**32)] = 42
    sources: list[SourceSpec] = []
    sources_policy: Literal["strict", "permissive"] = "strict"
    adapters: dict[str, AdapterSpec] | None = None
    gate: GateConfig = GateConfig()
    preference: PreferenceConfig = PreferenceConfig()
    replay: ReplayConfig = ReplayConfig()
    anchor: AnchorConfig = AnchorConfig()
    augment: AugmentConfig = AugmentConfig()
    cache: CacheConfig = CacheConfig()

    _modules = field_validator("target_modules")(_check_modules)

    @field_validator("sources", mode="before")
    @classmethod
    def _sources_shorthand(cls, value: Any) -> Any:
        """``sources: [notes/]`` is short for ``sources: [{path: notes/}]``."""
        if isinstance(value, list):
            return [{"path": item} if isinstance(item, str) else item for item in value]
        return value

    @field_validator("adapters", mode="before")
    @classmethod
    def _adapters_shorthand(cls, value: Any) -> Any:
        """``adapters: [facts, tone]`` or ``tone:`` with no knobs declare adapters with defaults."""
        if isinstance(value, list):
            value = {name: {} for name in value} if all(isinstance(n, str) for n in value) else value
        if isinstance(value, dict):
            value = {k: ({} if v is None else v) for k, v in value.items()}
        return value

    @field_validator("adapters")
    @classmethod
    def _adapter_names(cls, value: dict[str, AdapterSpec] | None) -> dict[str, AdapterSpec] | None:
        if value is not None:
            if not value:
                raise ValueError("declare at least one adapter, or leave 'adapters' out")
            for name in value:
                if not re.match(ADAPTER_NAME_PATTERN, name):
                    raise ValueError(f"adapter name '{name}' must match {ADAPTER_NAME_PATTERN}")
        return value

    @model_validator(mode="after")
    def _source_adapters(self) -> TrainingConfig:
        names = self.adapter_names
        for spec in self.sources:
            if spec.adapter is not None and spec.adapter not in names:
                raise ValueError(f"source '{spec.path}' routes to undeclared adapter '{spec.adapter}'{did_you_mean(spec.adapter, names)}")
        return self

    @property
    def adapter_names(self) -> list[str]:
        """Declared adapter names in document order; a document that declares none has one."""
        return list(self.adapters) if self.adapters else [DEFAULT_ADAPTER]


class ExportConfig(_Strict):
    default_quant: Literal["Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0", "F16"] = "Q4_K_M"
    default_temperature: Annotated[float, Field(ge=0, le=2)] = 0.7
    default_top_p: Annotated[float, Field(gt=0, le=1)] = 0.9
    targets: list[Literal[BUNDLE_KINDS]] = []  # the one table: export/kinds.py


class VerifyConfig(_Strict):
    """How ``dlm verify`` judges an adapter rebuilt on another machine class: greedy answers must
    be identical and the log-probabilities of the document's answers within ``tolerance``
    (``train/probes.py``; docs/engine.md has the bf16-against-float32 figures behind it)."""

    tolerance: Annotated[float, Field(ge=0, le=100)] = 1.0


class DlmConfig(_Strict):
    """The whole frontmatter."""

    dlm_id: Annotated[str, Field(pattern=ULID_PATTERN)]
    # Strict: in lax mode ``dlm_version: true`` would read as version 1 (and 2.0 as 2) while the
    # migrator, which only trusts real integers, treats the document as current.
    dlm_version: Annotated[int, Field(ge=1, le=CURRENT_DLM_VERSION, strict=True)] = CURRENT_DLM_VERSION
    base_model: str
    system_prompt: str | None = None
    training: TrainingConfig = TrainingConfig()
    export: ExportConfig = ExportConfig()
    verify: VerifyConfig = VerifyConfig()

    @field_validator("base_model")
    @classmethod
    def _known_base(cls, value: str) -> str:
        if value in REGISTRY or is_path_reference(value) or _HF_ID.match(value):
            return value
        if value.startswith("hf:"):
            raise ValueError(f"'{value}' is not of the form hf:org/name")
        raise ValueError(f"unknown base model '{value}'{did_you_mean(value, REGISTRY)}; use a registry key, hf:org/name, or a local path")
