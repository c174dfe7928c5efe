"""Section types and their stable ids.

A section id hashes what a section *is* (its type, media attributes and normalized content),
never where it sits or which adapter it is routed to. Moving a section, re-routing it with
``#name``, or converting the file to CRLF keeps its id, so none of those re-tokenize anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import xxhash

from dlmbuild.document.text import normalize


class SectionType(str, Enum):
    PROSE = "prose"
    INSTRUCTION = "instruction"
    PREFERENCE = "preference"
    IMAGE = "image"
    AUDIO = "audio"


SECTION_TYPES = tuple(t.value for t in SectionType)
PROVENANCE_KINDS = ("auto-synth", "auto-mined", "auto-harvest")
# Attributes each fence type takes: (required, optional).
FENCE_ATTRIBUTES: dict[SectionType, tuple[tuple[str, ...], tuple[str, ...]]] = {
    SectionType.PROSE: ((), ()),
    SectionType.INSTRUCTION: ((), ()),
    SectionType.PREFERENCE: ((), ()),
    SectionType.IMAGE: (("path", "alt"), ()),
    SectionType.AUDIO: (("path", "transcript"), ()),
}


@dataclass(frozen=True)
class QAPair:
    question: str
    answer: str
    line: int  # line of the '### Q' header


@dataclass(frozen=True)
class PreferenceTriple:
    prompt: str
    chosen: str
    rejected: str
    line: int  # line of the '### Prompt' header


@dataclass(frozen=True)
class Provenance:
    """Who generated a section: ``<!-- auto-synth teacher="…" run="…" -->`` parsed into fields."""

    kind: str
    fields: tuple[tuple[str, str], ...] = ()

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, **dict(self.fields)}


@dataclass(frozen=True)
class Section:
    """One typed section of a document, or one file ingested from ``training.sources``."""

    id: str
    type: SectionType
    text: str  # normalized body: no fence, no provenance comment
    line: int  # 1-based line of the fence (or first line of an unfenced section); 0 if ingested
    adapter: str | None = None  # the explicit '#name' suffix, if any
    adapters: tuple[str, ...] = ()  # the adapters this section trains, after routing
    fenced: bool = True
    start: int = 0  # character span in the document text; (0, 0) for ingested sections
    end: int = 0
    attrs: tuple[tuple[str, str], ...] = ()
    pairs: tuple[QAPair, ...] = ()
    triples: tuple[PreferenceTriple, ...] = ()
    provenance: Provenance | None = None
    source_path: str | None = None  # relative path of an ingested source file
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def attributes(self) -> dict[str, str]:
        return dict(self.attrs)


def section_id(kind: SectionType, text: str, attrs: tuple[tuple[str, str], ...] = ()) -> str:
    """The stable id: xxh3-128 of type, sorted media attributes and normalized content."""
    canon_attrs = "\x1f".join(f"{k}={v}" for k, v in sorted(attrs))
    payload = f"{kind.value}\x1e{canon_attrs}\x1e{normalize(text)}"
    return xxhash.xxh3_128_hexdigest(payload.encode("utf-8"))[:16]
