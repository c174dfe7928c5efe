"""The replay corpus: every section version an adapter has trained on, kept append-only.

Training is hermetic (each build trains from the base), so without replay an edited or deleted
section would vanish from the model at the next build. Each published ``:train-<name>`` appends
the sections it trained on to ``replay/<name>.jsonl``; later builds mix in a sample of the
versions that are no longer in the document. The sample depends only on the corpus content,
the document seed and the adapter name (hash ranking, no wall clock, no RNG state), so the same
store and document always give the same training data, and the sampled ids enter the key.

A crash mid-append can leave a partial last line; readers skip it, so the corpus never blocks
a build.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import xxhash

from dlmbuild.document.sections import PreferenceTriple, QAPair, Section, SectionType


def section_record(identity: str, section: Section) -> dict:
    """What a replayed section needs to be tokenized again under any tokenizer."""
    return {
        "id": identity,
        "type": section.type.value,
        "text": section.text,
        "attrs": [list(a) for a in section.attrs],
        "pairs": [[p.question, p.answer] for p in section.pairs],
        "triples": [[t.prompt, t.chosen, t.rejected] for t in section.triples],
    }


def record_section(record: dict, adapter: str) -> Section:
    return Section(
        id=record["id"], type=SectionType(record["type"]), text=record["text"], line=0, adapters=(adapter,),
        fenced=False, attrs=tuple(tuple(a) for a in record.get("attrs", ())),
        pairs=tuple(QAPair(q, a, 0) for q, a in record.get("pairs", ())),
        triples=tuple(PreferenceTriple(p, c, r, 0) for p, c, r in record.get("triples", ())),
    )


class ReplayCorpus:
    def __init__(self, root: Path, adapter: str):
        self.adapter = adapter
        self.path = Path(root) / f"{adapter}.jsonl"

    def records(self) -> dict[str, dict]:
        """id -> record, first occurrence wins; a torn last line is ignored."""
        out: dict[str, dict] = {}
        try:
            handle = open(self.path, "rb")
        except OSError:
            return out
        with handle:
            for line in handle:
                try:
                    record = json.loads(line)  # bytes: a tear inside a UTF-8 character is a ValueError too
                except ValueError:
                    continue
                out.setdefault(record["id"], record)
        return out

    def ids(self) -> set[str]:
        return set(self.records())

    def append(self, records: list[dict]) -> int:
        """Append records whose id is new; returns how many were added."""
        known = self.ids()
        fresh = [r for r in records if r["id"] not in known]
        if not fresh:
            return 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lines = "".join(json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n" for record in fresh).encode()
        with open(self.path, "a+b") as handle:
            if handle.tell() > 0:
                handle.seek(-1, os.SEEK_END)
                if handle.read(1) != b"\n":  # a torn last line: end it, so it cannot swallow the next record
                    lines = b"\n" + lines
            handle.write(lines)
            handle.flush()
            os.fsync(handle.fileno())
        return len(fresh)


def stale_ids(corpus_ids: set[str], current_ids: set[str]) -> list[str]:
    """Section versions trained before but absent from the document now, in a stable order."""
    return sorted(corpus_ids - current_ids)


def sample(ids: list[str], count: int, seed: int) -> list[str]:
    """A deterministic sample: the ``count`` ids with the lowest seeded hash."""
    ranked = sorted(ids, key=lambda i: (xxhash.xxh64_intdigest(i.encode(), seed=seed), i))
    return sorted(ranked[:count])


def replay_budget(current_rows: int, fraction: float, max_rows: int, available: int) -> int:
    """How many replayed sections to mix in: ``fraction`` of the training set, at least one when
    anything is stale (an edited one-section document must still remember), at most ``max_rows``."""
    if available == 0 or fraction == 0 or max_rows == 0:
        return 0
    # round() first: 12 rows at 0.2 is 3.0000000000000004 in floats, which must stay 3
    share = math.ceil(round(current_rows * fraction / (1 - fraction), 9)) if fraction < 1 else available
    return max(1, min(available, max_rows, share))
