"""One ``dlm synth instructions`` run: prose sections in, filtered pairs and a report out.

Deterministic with a local teacher: requests go in document order, request ``i`` samples with
seed ``seed + i``, the filters keep the earlier of two duplicates, and ``--max-pairs`` keeps the
first pairs. Nothing is written here; the caller stages or applies the result.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

from dlmbuild.document.render import renderable
from dlmbuild.document.sections import Section, SectionType
from dlmbuild.infer.generate import Sampling
from dlmbuild.synth.dedup import split_duplicates
from dlmbuild.synth.judge import grounding_gain
from dlmbuild.synth.pairs import borrows_example, parse_pairs, parse_question
from dlmbuild.synth.prompts import Request, plan_requests
from dlmbuild.synth.stage import SynthPair

FILTERS = ("judge", "dedup-only", "none")


@dataclass(frozen=True)
class SynthSettings:
    per_section: int = 3
    strategy: str = "extraction"
    filter: str = "judge"
    threshold: float = 0.5
    max_pairs: int | None = None
    sampling: Sampling = field(default_factory=lambda: Sampling(max_new_tokens=320, temperature=0.0, top_p=1.0, seed=0))

    def as_dict(self) -> dict:
        data = asdict(self)
        data["sampling"] = asdict(self.sampling)
        return data


@dataclass
class FilterReport:
    requests: int = 0
    generated: int = 0  # pairs parsed from replies
    unparsable: int = 0  # replies with no complete pair
    duplicates: int = 0
    judged_out: int = 0
    capped: int = 0  # dropped by --max-pairs
    kept: int = 0
    threshold: float | None = None

    def lines(self) -> list[str]:
        judged = f"{self.judged_out} judged out (threshold {self.threshold:g})" if self.threshold is not None else "not judged"
        return [f"filter: {self.generated} generated from {self.requests} requests, {self.unparsable} unparsable replies, "
                f"{self.duplicates} duplicates, {judged}, {self.capped} over --max-pairs, {self.kept} kept"]


def prose_sections(doc_sections: list[Section], source_sections: list[Section], adapter: str | None) -> list[Section]:
    """Non-empty prose sections, the document's then the ingested source files', that train
    ``adapter`` (every one when ``adapter`` is None)."""
    chosen = []
    for section in [*doc_sections, *source_sections]:
        if section.type is not SectionType.PROSE or not section.text.strip():
            continue
        if adapter is not None and section.adapters and adapter not in section.adapters:
            continue
        chosen.append(section)
    return chosen


def run_id(document_sha256: str, teacher: str, settings: SynthSettings) -> str:
    """A run's id, from what decides its pairs: the same inputs give the same id (and bytes)."""
    blob = json.dumps([document_sha256, teacher, settings.as_dict()], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


STATEMENT_TOKENS = 48  # a question is one line


def ask_teacher(teacher, requests: list[Request], sampling: Sampling, on_reply: Callable[[], None]) -> list[str]:
    """Each request's reply. A teacher with ``complete_many`` (llama.cpp in a child process)
    gets them in one batch so it loads its model once; statement requests are continued as raw
    text."""
    seeded = [replace(sampling, seed=sampling.seed + i) for i in range(len(requests))]
    if requests and requests[0].prefix is not None:
        replies = []
        for request, settings in zip(requests, seeded, strict=True):
            short = replace(settings, max_new_tokens=min(settings.max_new_tokens, STATEMENT_TOKENS))
            replies.append(teacher.continue_text(request.prefix, short))
            on_reply()
        return replies
    if hasattr(teacher, "complete_many") and requests:
        replies = teacher.complete_many([(r.system, r.user) for r in requests], sampling)
        for _ in replies:
            on_reply()
        return replies
    replies = []
    for request, settings in zip(requests, seeded, strict=True):
        replies.append(teacher.complete(request.system, request.user, settings))
        on_reply()
    return replies


def synthesize(sections: list[Section], existing_questions: list[str], teacher, scorer, settings: SynthSettings,
               on_reply: Callable[[], None] = lambda: None) -> tuple[list[SynthPair], FilterReport]:
    """Ask, parse, dedup, judge and cap. ``scorer`` (a LocalChatModel) is needed only for the
    judge filter."""
    by_id = {s.id: s for s in sections}
    requests = plan_requests([(s.id, s.text) for s in sections], settings.strategy, settings.per_section,
                             statements=hasattr(teacher, "continue_text"))
    report = FilterReport(requests=len(requests), threshold=settings.threshold if settings.filter == "judge" else None)
    replies = ask_teacher(teacher, requests, settings.sampling, on_reply)
    candidates: list[tuple[Request, str, str]] = []
    for request, reply in zip(requests, replies, strict=True):
        if request.statement is not None:
            question = parse_question(reply)
            pairs = [(question, request.statement)] if question else []
        else:
            pairs = parse_pairs(reply)[: request.wanted]
        pairs = [(q, a) for q, a in pairs if not borrows_example(q, request.passage) and renderable(q) and renderable(a)]
        if not pairs:
            report.unparsable += 1
        candidates += [(request, q, a) for q, a in pairs]
    report.generated = len(candidates)
    if settings.filter != "none":
        kept, dropped = split_duplicates([q for _, q, _ in candidates], existing_questions)
        report.duplicates = len(dropped)
        candidates = [candidates[i] for i in kept]
    accepted: list[SynthPair] = []
    for request, question, answer in candidates:
        gain = None
        if settings.filter == "judge":
            gain = round(grounding_gain(scorer, request.passage, question, answer), 4)
            if gain < settings.threshold:
                report.judged_out += 1
                continue
        section = by_id[request.section]
        accepted.append(SynthPair(question, answer, section.id, request.strategy,
                                  after=None if section.source_path else section.id, source=section.source_path, gain=gain))
    if settings.max_pairs is not None and len(accepted) > settings.max_pairs:
        report.capped = len(accepted) - settings.max_pairs
        accepted = accepted[: settings.max_pairs]
    report.kept = len(accepted)
    return accepted, report
