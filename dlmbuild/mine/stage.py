"""Mined triples waiting in the store until ``dlm preference apply`` writes them:
``<store>/preference/staged.json``, with the document's sha256 (``apply`` refuses a document
edited since) and the run's settings. A new run replaces the stage."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from dlmbuild.mine.run import MinedTriple
from dlmbuild.store.staging import StagedFile

SCHEMA = "dlm.preference-stage/1"


@dataclass
class MineStage:
    run: str
    judge: str
    document_sha256: str
    settings: dict = field(default_factory=dict)
    triples: list[MinedTriple] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"run": self.run, "judge": self.judge, "document_sha256": self.document_sha256,
                "settings": self.settings, "triples": [asdict(t) for t in self.triples]}


def staged_file(store_root: Path) -> StagedFile:
    return StagedFile(Path(store_root) / "preference" / "staged.json", SCHEMA, "dlm preference mine")


def write_stage(store_root: Path, stage: MineStage) -> None:
    staged_file(store_root).write(stage.as_dict())


def read_stage(store_root: Path) -> MineStage | None:
    return staged_file(store_root).read(lambda data: MineStage(data["run"], data["judge"], data["document_sha256"],
                                                               data.get("settings", {}), [MinedTriple(**t) for t in data["triples"]]))


def clear_stage(store_root: Path) -> None:
    staged_file(store_root).clear()
