"""``parse_document``: bytes on disk to a validated ``Document``.

Order matters for error quality: decoding first (binary garbage, empty file), then the
frontmatter (YAML, then schema, after an in-memory schema upgrade), then the body, then routing
and media checks, which need both.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dlmbuild.document.body import ParsedSection, RawSection, read_section, split_body
from dlmbuild.document.fence import parse_fence
from dlmbuild.document.frontmatter import Frontmatter, split_frontmatter
from dlmbuild.document.migrate import upgrade_data
from dlmbuild.document.schema import DlmConfig
from dlmbuild.document.sections import PreferenceTriple, QAPair, Section, SectionType, section_id
from dlmbuild.document.text import SourceText, decode_document, read_document_text
from dlmbuild.document.validate import validate_config
from dlmbuild.errors import DocumentError, Location
from dlmbuild.util.memo import memo_dict
from dlmbuild.util.suggest import did_you_mean


@dataclass(frozen=True)
class Document:
    """A parsed, validated .dlm document. ``source`` keeps the exact text for lossless edits."""

    path: Path
    source: SourceText
    frontmatter: Frontmatter
    config: DlmConfig
    sections: tuple[Section, ...]
    migrated_from: int | None = None  # the on-disk schema version, when upgraded in memory

    @property
    def text(self) -> str:
        return self.source.text

    @property
    def directory(self) -> Path:
        return self.path.parent

    def section(self, sid: str) -> Section:
        for section in self.sections:
            if section.id == sid:
                return section
        raise KeyError(sid)


def parse_document(path: str | os.PathLike[str]) -> Document:
    """Read and parse the document at ``path``; any mistake is one located DocumentError."""
    path = Path(path)
    return parse_source(read_document_text(path))


def parse_bytes(path: str | os.PathLike[str], data: bytes) -> Document:
    """Parse ``data`` as if read from ``path`` (editors and tests parse text not yet written)."""
    return parse_source(decode_document(Path(path), data))


def parse_source(source: SourceText) -> Document:
    """Decoded text to a Document: frontmatter, upgrade, validation, body, routing. A resident
    process re-reads only the sections an edit touched (``_LAST_SECTIONS``)."""
    path = source.path
    fm = split_frontmatter(path, source.text)
    data, migrated_from = upgrade_data(fm.data)
    config = validate_config(path, fm, data)
    body_line = source.text.count("\n", 0, fm.end) + 1
    raws = split_body(path, source.text, fm.end, body_line)
    names = tuple(config.training.adapter_names)
    held = _LAST_SECTIONS.get(str(path))
    previous = held[1] if held is not None and held[0] == names else {}
    memo: dict[int, tuple[RawSection, Section | None]] = {}
    sections = []
    for raw in raws:
        known = previous.get(id(raw.lines))
        if known is not None and known[0].lines is raw.lines and known[0].fence is raw.fence:
            section = _shifted(known[1], raw.start - known[0].start, raw.line - known[0].line)
        else:
            parsed = read_section(path, raw)
            # blank space between frontmatter and the first fence is no section
            section = None if not parsed.fenced and not parsed.text.strip() else _finish(path, config, parsed)
        # media sections are checked on every parse: their files can vanish without an edit
        if section is None or section.type not in (SectionType.IMAGE, SectionType.AUDIO):
            memo[id(raw.lines)] = (raw, section)
        if section is not None:
            sections.append(section)
    _LAST_SECTIONS[str(path)] = (names, memo)
    return Document(path, source, fm, config, tuple(sections), migrated_from)


# path -> (adapter names, {id(raw.lines): (raw section, its Section)}) from the last parse in
# this process. The body parser hands an edit's unchanged sections back with the very same line
# objects (moved, when the edit changed the text's length before them), so a resident process
# (dlm server, --watch) re-reads only the sections an edit touched: the others' Sections are
# reused, shifted to their new place. Holding the raw sections keeps their ids from being reused.
_LAST_SECTIONS: dict[str, tuple[tuple[str, ...], dict[int, tuple[RawSection, Section | None]]]] = memo_dict("document.sections")


def _shifted(section: Section | None, chars: int, lines: int) -> Section | None:
    """``section`` as it reads ``chars`` characters and ``lines`` lines further on."""
    if section is None or (not chars and not lines):
        return section
    return Section(
        id=section.id, type=section.type, text=section.text, line=section.line + lines, adapter=section.adapter,
        adapters=section.adapters, fenced=section.fenced, start=section.start + chars, end=section.end + chars,
        attrs=section.attrs, pairs=tuple(QAPair(p.question, p.answer, p.line + lines) for p in section.pairs),
        triples=tuple(PreferenceTriple(t.prompt, t.chosen, t.rejected, t.line + lines) for t in section.triples),
        provenance=section.provenance,
    )


def _finish(path: Path, config: DlmConfig, parsed: ParsedSection) -> Section:
    names = config.training.adapter_names
    if parsed.adapter is not None and parsed.adapter not in names:
        declared = ", ".join(names)
        hint = did_you_mean(parsed.adapter, names)
        raise DocumentError(
            f"unknown adapter '{parsed.adapter}'{hint} (declared: {declared})",
            Location(path, parsed.line, parsed.adapter_col),
        )
    if parsed.type in (SectionType.IMAGE, SectionType.AUDIO):
        _check_media(path, config, parsed)
    return Section(
        id=section_id(parsed.type, parsed.text, parsed.attrs),
        type=parsed.type,
        text=parsed.text.replace("\r\n", "\n").strip("\n"),
        line=parsed.line,
        adapter=parsed.adapter,
        adapters=route(parsed.type, parsed.adapter, names),
        fenced=parsed.fenced,
        start=parsed.start,
        end=parsed.end,
        attrs=parsed.attrs,
        pairs=parsed.pairs,
        triples=parsed.triples,
        provenance=parsed.provenance,
    )


def route(kind: SectionType, suffix: str | None, names: list[str]) -> tuple[str, ...]:
    """Which adapters a section trains.

    An explicit ``#name`` wins. Unsuffixed prose is shared knowledge and trains every adapter;
    unsuffixed instruction, preference and media sections are task data and train the first
    declared adapter.
    """
    if suffix is not None:
        return (suffix,)
    if kind is SectionType.PROSE:
        return tuple(names)
    return (names[0],)


def _check_media(path: Path, config: DlmConfig, parsed: ParsedSection) -> None:
    attrs = dict(parsed.attrs)
    rel = attrs["path"]
    # The attribute's own column: a text search for 'path=' would also hit alt="see path=x".
    col = next((c for key, _, c in parse_fence(parsed.fence_text).attrs if key == "path"), 1)
    where = Location(path, parsed.line, col)
    target = (path.parent / rel) if not os.path.isabs(rel) else Path(rel)
    if config.training.sources_policy == "strict" and not inside_folder(path.parent, target):
        raise DocumentError(f"media path '{rel}' leaves the document's folder (sources_policy: strict)", where)
    if not target.is_file():
        raise DocumentError(f"media file '{rel}' not found", where)
    from dlmbuild.document.media_files import clip_problem, image_problem

    problem = image_problem(target) if parsed.type is SectionType.IMAGE else clip_problem(target)
    if problem is not None:
        raise DocumentError(f"media file '{rel}' {problem}", where)


def inside_folder(root: Path, target: Path) -> bool:
    """Whether ``target``, with symlinks resolved, lies inside ``root``."""
    try:
        Path(os.path.realpath(target)).relative_to(os.path.realpath(root))
    except ValueError:
        return False
    return True
