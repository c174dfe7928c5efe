"""One mining run: sample the adapter, judge the samples, keep (best, worst) pairs.

Deterministic with a local judge: prompts go in document order, sample ``j`` of prompt ``i`` is
drawn with seed ``seed + 1000 * i + j``, ties go to the earlier sample, and ``--max-pairs`` keeps
the first triples. A prompt that already has a triple in the document is skipped (counted).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from dlmbuild.document.render import renderable
from dlmbuild.document.sections import Section, SectionType
from dlmbuild.infer.generate import Sampling


@dataclass(frozen=True)
class MinedTriple:
    prompt: str
    chosen: str
    rejected: str
    section: str  # the instruction section the prompt came from (the triple goes after it)
    margin: float


@dataclass
class MineReport:
    prompts: int = 0
    samples: int = 0
    already: int = 0  # prompts that already have a triple in the document
    identical: int = 0  # prompts whose samples were all the same text
    below: int = 0  # best and worst closer than the threshold
    capped: int = 0
    kept: int = 0
    threshold: float = 0.0

    def line(self) -> str:
        return (f"mine: {self.prompts} prompt(s) x {self.samples} sample(s), {self.already} already with a triple, "
                f"{self.identical} with identical samples, {self.below} below the margin {self.threshold:g}, "
                f"{self.capped} over --max-pairs, {self.kept} kept")


@dataclass(frozen=True)
class MineSettings:
    samples: int = 4
    threshold: float = 0.5
    max_pairs: int | None = None
    sampling: Sampling = field(default_factory=lambda: Sampling(max_new_tokens=96, temperature=0.8, top_p=0.95, seed=0))


def instruction_prompts(sections: list[Section], adapter: str) -> list[tuple[Section, str, str]]:
    """(section, question, reference answer) of every Q/A pair that trains ``adapter``."""
    return [(s, p.question, p.answer) for s in sections if s.type is SectionType.INSTRUCTION and adapter in s.adapters
            for p in s.pairs]


def existing_prompts(sections: list[Section]) -> set[str]:
    return {" ".join(t.prompt.split()).casefold() for s in sections if s.type is SectionType.PREFERENCE for t in s.triples}


def mine(prompts: list[tuple[Section, str, str]], ask: Callable[[str, Sampling], str], judge, settings: MineSettings,
         skip: set[str], on_prompt: Callable[[], None] = lambda: None) -> tuple[list[MinedTriple], MineReport]:
    """``ask(question, sampling)`` samples the adapter; ``judge.score(prompt, reference, candidates)``."""
    report = MineReport(prompts=len(prompts), samples=settings.samples, threshold=settings.threshold)
    triples: list[MinedTriple] = []
    for i, (section, question, reference) in enumerate(prompts):
        on_prompt()
        if " ".join(question.split()).casefold() in skip:
            report.already += 1
            continue
        candidates = [ask(question, replace(settings.sampling, seed=settings.sampling.seed + 1000 * i + j)).strip()
                      for j in range(settings.samples)]
        distinct = list(dict.fromkeys(c for c in candidates if c and renderable(c)))
        if len(distinct) < 2:
            report.identical += 1
            continue
        scores = judge.score(question, reference, distinct)
        best = max(range(len(distinct)), key=lambda k: (scores[k], -k))
        worst = min(range(len(distinct)), key=lambda k: (scores[k], k))
        margin = scores[best] - scores[worst]
        if margin < settings.threshold:
            report.below += 1
            continue
        triples.append(MinedTriple(question, distinct[best], distinct[worst], section.id, round(margin, 4)))
    if settings.max_pairs is not None and len(triples) > settings.max_pairs:
        report.capped = len(triples) - settings.max_pairs
        triples = triples[: settings.max_pairs]
    report.kept = len(triples)
    return triples, report
