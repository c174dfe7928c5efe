"""Accepted pairs waiting in the store until ``dlm synth apply`` writes them.

``<store>/synth/staged.json`` holds the latest run's pairs, the sha256 of the document they were
made from, and the run's settings (never a key or a URL's credentials: the teacher is recorded
by ``TeacherSpec.label``). A new run replaces the stage; ``apply`` refuses a document edited since
staging, because the pairs' placement and dedup were decided against the old text.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from dlmbuild.store.staging import StagedFile

SCHEMA = "dlm.synth-stage/1"


@dataclass(frozen=True)
class SynthPair:
    question: str
    answer: str
    section: str  # id of the prose section (or ingested source file) it was made from
    strategy: str  # extraction | expansion
    after: str | None = None  # id of the section it goes after in the document (None: the end)
    source: str | None = None  # the ingested source file's path, when it came from one
    gain: float | None = None  # the judge's grounding gain (nats per token), when judged


@dataclass
class Stage:
    run: str
    teacher: str
    document_sha256: str
    settings: dict = field(default_factory=dict)
    pairs: list[SynthPair] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"run": self.run, "teacher": self.teacher, "document_sha256": self.document_sha256,
                "settings": self.settings, "pairs": [asdict(p) for p in self.pairs]}


def staged_file(store_root: Path) -> StagedFile:
    return StagedFile(Path(store_root) / "synth" / "staged.json", SCHEMA, "dlm synth instructions")


def write_stage(store_root: Path, stage: Stage) -> None:
    staged_file(store_root).write(stage.as_dict())


def read_stage(store_root: Path) -> Stage | None:
    """The staged run, or None when nothing is staged."""
    return staged_file(store_root).read(lambda data: Stage(data["run"], data["teacher"], data["document_sha256"],
                                                           data.get("settings", {}), [SynthPair(**p) for p in data["pairs"]]))


def clear_stage(store_root: Path) -> None:
    staged_file(store_root).clear()
