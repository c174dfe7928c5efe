"""Judges: score a prompt's candidate answers, higher is better.

- ``self``: grounded likelihood. The base, with the prompt's reference (the document's own answer
  to it, and the prose section before it) in its system prompt, scores each candidate by its mean
  log-probability per token. Offline, no extra model: an answer that agrees with the document
  is likely given it.
- ``hf:<path>``: a local reward model (``AutoModelForSequenceClassification`` with one label),
  scoring the chat-rendered prompt and answer; a folder that is not one is refused before any
  sampling.
- ``cli:<command>``: an external program. It gets ``{"prompt": ..., "candidates": [...]}`` as JSON
  on stdin and prints one number per candidate, one per line. A crash, a timeout or output that
  is not that is one line naming the judge.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

from dlmbuild.errors import DlmError, UsageError
from dlmbuild.util.suggest import did_you_mean

SCHEMES = ("self", "hf:", "cli:")
CONTEXT_SYSTEM = "Answer the question the way this reference does.\n\n{reference}"
CLI_TIMEOUT_S = 60


@dataclass(frozen=True)
class JudgeSpec:
    scheme: str  # self | hf | cli
    target: str = ""

    @property
    def label(self) -> str:
        if self.scheme == "hf":
            return f"hf:{Path(self.target).name}"
        if self.scheme == "cli":
            return f"cli:{shlex.split(self.target)[0] if self.target.strip() else ''}"
        return self.scheme


def parse_judge(text: str) -> JudgeSpec:
    value = text.strip()
    if value == "self":
        return JudgeSpec("self")
    scheme, colon, target = value.partition(":")
    if not colon or scheme not in ("hf", "cli"):
        raise UsageError(f"unknown judge '{value}'{did_you_mean(value, SCHEMES)}; use one of: self, hf:PATH, cli:COMMAND")
    if not target.strip():
        raise UsageError(f"judge '{scheme}:' needs a {'model folder' if scheme == 'hf' else 'command'} after the colon")
    return JudgeSpec(scheme, target.strip())


def check_judge(spec: JudgeSpec) -> None:
    """Refuse, before anything is sampled, an ``hf:`` path that is not a sequence-classification
    model with one score, or a ``cli:`` program that does not exist."""
    if spec.scheme == "hf":
        path = Path(spec.target).expanduser()
        config = path / "config.json"
        if not config.is_file():
            raise UsageError(f"judge hf:{spec.target}: no model folder (config.json) there")
        data = json.loads(config.read_text(encoding="utf-8"))
        architectures = data.get("architectures") or []
        if not any(a.endswith("ForSequenceClassification") for a in architectures):
            raise UsageError(f"judge hf:{spec.target}: not a sequence-classification (reward) model "
                             f"(its architectures: {', '.join(architectures) or 'none'})")
    elif spec.scheme == "cli":
        import shutil

        program = shlex.split(spec.target)[0]
        if shutil.which(program) is None and not Path(program).is_file():
            raise UsageError(f"judge cli:{program}: no such program")


class SelfJudge:
    """Grounded likelihood under the base (``scorer``: a LocalChatModel, adapter switched off)."""

    label = "self"

    def __init__(self, scorer):
        self.scorer = scorer

    def score(self, prompt: str, reference: str, candidates: list[str]) -> list[float]:
        system = CONTEXT_SYSTEM.format(reference=reference)
        with self.scorer.base_only():
            return [self.scorer.answer_logprob(system, prompt, c) for c in candidates]


class RewardModelJudge:
    """A local reward model: the logit of its single label for (prompt, answer)."""

    def __init__(self, spec: JudgeSpec):
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.label = spec.label
        path = Path(spec.target).expanduser()
        self.tokenizer = AutoTokenizer.from_pretrained(str(path))
        self.model = AutoModelForSequenceClassification.from_pretrained(str(path), dtype=torch.float32).eval()
        if self.model.config.num_labels != 1:
            raise UsageError(f"judge {spec.label}: a reward model has one label, this one has {self.model.config.num_labels}")

    def score(self, prompt: str, reference: str, candidates: list[str]) -> list[float]:
        import torch

        scores = []
        with torch.inference_mode():
            for candidate in candidates:
                if getattr(self.tokenizer, "chat_template", None):
                    text = self.tokenizer.apply_chat_template([{"role": "user", "content": prompt},
                                                               {"role": "assistant", "content": candidate}], tokenize=False)
                else:
                    text = f"{prompt}\n{candidate}"
                inputs = self.tokenizer(text, return_tensors="pt", truncation=True)
                scores.append(float(self.model(**inputs).logits[0, 0]))
        return scores


class CommandJudge:
    """An external program: JSON in, one score per line out."""

    def __init__(self, spec: JudgeSpec, timeout: float = CLI_TIMEOUT_S):
        self.label, self.argv, self.timeout = spec.label, shlex.split(spec.target), timeout

    def score(self, prompt: str, reference: str, candidates: list[str]) -> list[float]:
        payload = json.dumps({"prompt": prompt, "reference": reference, "candidates": candidates})
        try:
            done = subprocess.run(self.argv, input=payload, capture_output=True, text=True, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            raise DlmError(f"judge {self.label} did not answer within {self.timeout:g} s; nothing was written") from None
        except OSError as exc:
            raise DlmError(f"judge {self.label} could not run ({exc.strerror}); nothing was written") from None
        if done.returncode != 0:
            raise DlmError(f"judge {self.label} failed (exit {done.returncode}); nothing was written")
        lines = [line for line in done.stdout.splitlines() if line.strip()]
        try:
            scores = [float(line) for line in lines]
        except ValueError:
            scores = []
        if len(scores) != len(candidates):
            raise DlmError(f"judge {self.label} printed {len(lines)} line(s), not one number per candidate "
                           f"({len(candidates)}); nothing was written")
        return scores


def open_judge(spec: JudgeSpec, scorer=None):
    if spec.scheme == "self":
        return SelfJudge(scorer)
    if spec.scheme == "hf":
        return RewardModelJudge(spec)
    return CommandJudge(spec)
