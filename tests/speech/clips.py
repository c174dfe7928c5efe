"""The committed clips (tests/fixtures/audio/) and their transcripts, by set: ``train`` (the
invented name, trained on), ``heldout`` (the name in other sentences), ``plain`` (no name)."""

from __future__ import annotations

import json
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "audio"
NAME = "Kelvarro Tidemoor"


def clips(which: str | None = None) -> list[tuple[Path, str]]:
    """(clip, transcript) of the committed fixtures, of one set or all."""
    table = json.loads((FIXTURES / "transcripts.json").read_text(encoding="utf-8"))
    return [(FIXTURES / name, row["text"]) for name, row in table.items() if which in (None, row["set"])]
