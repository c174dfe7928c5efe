"""From the body text to typed sections, with a precise location for every mistake.

The lark grammar splits the body into an implicit prose preamble and fenced sections, each a
list of line tokens (code blocks kept whole). This module reads each section's lines according
to its type: Q/A pairs, preference triples, media attributes, provenance. Routing to adapters
happens in ``parse`` once the declared adapters are known.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import lark

from dlmbuild.document.fence import LineSyntaxError, parse_fence, parse_provenance
from dlmbuild.document.grammar import parser
from dlmbuild.document.sections import (
    FENCE_ATTRIBUTES,
    PROVENANCE_KINDS,
    SECTION_TYPES,
    PreferenceTriple,
    Provenance,
    QAPair,
    SectionType,
)
from dlmbuild.errors import DocumentError, Location
from dlmbuild.util.memo import memo_dict
from dlmbuild.util.suggest import did_you_mean


@dataclass
class Line:
    """One body line: its text (with line ending), where it sits in its section and whether it
    is structural (a ``### Q``-style header outside any code block).

    Positions are relative to the section (``RawSection.line`` and ``.start``), so an edit above
    a section moves it by changing two numbers, not by rebuilding each of its lines; and the
    moved section keeps the very same line objects, which is how ``parse`` knows it is unchanged.
    """

    text: str
    row: int  # lines after the section's first line (the fence's row is 0)
    offset: int  # characters after the section's start
    header: bool = False

    @property
    def header_name(self) -> str:
        return self.text.strip()[3:].strip()


@dataclass
class RawSection:
    """A section as the grammar sees it, before its lines are interpreted."""

    fence: Line | None  # None for the implicit preamble
    lines: list[Line]
    start: int  # offset of its first character in the document text
    end: int
    line: int  # document line number of its first line (the fence, or the preamble's first line)

    def number(self, line: Line) -> int:
        """The document line number of one of its lines."""
        return self.line + line.row


@dataclass
class ParsedSection:
    """A section read according to its type; adapters are resolved later."""

    type: SectionType
    line: int
    start: int
    end: int
    fenced: bool
    adapter: str | None
    adapter_col: int
    text: str
    attrs: tuple[tuple[str, str], ...]
    pairs: tuple[QAPair, ...] = ()
    triples: tuple[PreferenceTriple, ...] = ()
    provenance: Provenance | None = None
    fence_text: str = ""


def split_body(path: Path, text: str, body_start: int, first_line: int) -> list[RawSection]:
    """Parse the body (``text[body_start:]``) into raw sections with document offsets.

    A resident process (``dlm server``, ``--watch``) parses the same document again after each
    edit; it re-parses only the sections the edit touched (see ``_reparse_edit``).
    """
    key = str(path)
    previous = _LAST_PARSE.get(key)
    sections = _reparse_edit(previous, text, body_start, first_line) if previous is not None else None
    if sections is None:
        sections = _parse_span(path, text[body_start:], body_start, first_line)
    _LAST_PARSE[key] = (text, body_start, first_line, sections)
    return sections


# path -> (text, body_start, first_line, sections) of the last parse in this process. Its
# validity check is ``_reparse_edit``: the old text is compared with the new one.
_LAST_PARSE: dict[str, tuple[str, int, int, list[RawSection]]] = memo_dict("document.body")


def _parse_span(path: Path, body: str, offset: int, first_line: int) -> list[RawSection]:
    """Raw sections of ``body``, which starts at document offset ``offset`` and line ``first_line``."""
    try:
        tree = parser().parse(body, start="body")
    except lark.UnexpectedInput:
        raise _unclosed_code_block(path, body, first_line) from None
    return _sections_of(tree, offset, first_line)


def _reparse_edit(previous, text: str, body_start: int, first_line: int) -> list[RawSection] | None:
    """The sections of ``text`` from the previous parse plus a parse of only the edited span, or
    None when that cannot be shown equal to a full parse (then the caller parses everything).

    Sections tile the body and each fenced one starts at a top-level fence line, where the
    grammar's state is the same as at the start of a body. So parsing the span from the first
    touched section's start to the last touched section's end gives what a full parse gives
    there, provided the span parses on its own (every code block closed inside it) and, unless
    it starts at the body's start, begins with its fence (a deleted fence merges sections). The
    sections after the span are the old ones moved by the edit's change in length and lines.
    """
    old_text, old_start, old_first, old_sections = previous
    if (old_start, old_first) != (body_start, first_line) or not old_sections:
        return None
    old, new = old_text[body_start:], text[body_start:]
    if old == new:
        return old_sections
    same_head = _common_prefix(old, new)
    same_tail = _common_suffix(old, new, min(len(old), len(new)) - same_head)
    changed_end = len(old) - same_tail  # the edit replaced old[same_head:changed_end]
    starts = [section.start - body_start for section in old_sections]
    ends = [section.end - body_start for section in old_sections]
    if starts[0] != 0 or ends[-1] != len(old) or any(ends[k] != starts[k + 1] for k in range(len(starts) - 1)):
        return None  # leading blank text that is not a section: no tiling to rely on
    first = max(0, next((k for k, end in enumerate(ends) if end >= same_head), len(ends) - 1))
    last = max(k for k, start in enumerate(starts) if start <= changed_end)
    grow = len(new) - len(old)
    span_start, span_end = starts[first], ends[last] + grow
    if span_end < span_start or ends[last] < changed_end:
        return None
    span_line = first_line + old.count("\n", 0, span_start)
    try:
        tree = parser().parse(new[span_start:span_end], start="body")
    except lark.UnexpectedInput:
        return None
    if tree.children[0].children and old_sections[first].fence is not None:
        return None
    middle = _sections_of(tree, body_start + span_start, span_line)
    more_lines = new.count("\n", span_start, span_end) - old.count("\n", span_start, ends[last])
    after = [_moved(section, grow, more_lines) for section in old_sections[last + 1 :]]
    return old_sections[:first] + middle + after


def _sections_of(tree: lark.Tree, offset: int, first_line: int) -> list[RawSection]:
    sections: list[RawSection] = []
    preamble, *fenced = tree.children
    toks = _tokens(preamble.children)
    if toks:
        sections.append(_section(None, toks, offset, first_line))
    for node in fenced:
        fence_tok, *rest = node.children
        sections.append(_section(fence_tok, _tokens(rest), offset, first_line))
    return sections


def _section(fence: lark.Token | None, toks: list[tuple[lark.Token, bool]], offset: int, first_line: int) -> RawSection:
    """A raw section from its tokens; ``offset`` and ``first_line`` place the parsed span."""
    head = fence if fence is not None else toks[0][0]
    start, row0 = head.start_pos, head.line
    lines = [Line(str(tok), tok.line - row0, tok.start_pos - start, header) for tok, header in toks]
    last = toks[-1][0] if toks else head
    fence_line = Line(str(fence), 0, 0) if fence is not None else None
    return RawSection(fence_line, lines, start + offset, last.start_pos + len(last) + offset, row0 + first_line - 1)


def _moved(section: RawSection, chars: int, lines: int) -> RawSection:
    """The same section ``chars`` characters and ``lines`` lines further on; its line objects
    are shared, not copied."""
    if not chars and not lines:
        return section
    return RawSection(section.fence, section.lines, section.start + chars, section.end + chars, section.line + lines)


def _common_prefix(a: str, b: str) -> int:
    """Length of the longest common prefix, by bisection on C-speed slice comparisons."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        mid = (low + high + 1) // 2
        if a[:mid] == b[:mid]:
            low = mid
        else:
            high = mid - 1
    return low


def _common_suffix(a: str, b: str, limit: int) -> int:
    """Length of the longest common suffix, at most ``limit`` (so it cannot overlap the prefix)."""
    return min(_common_prefix(a[::-1], b[::-1]), limit)


def _tokens(children: list) -> list[tuple[lark.Token, bool]]:
    """Line tokens in order, each with whether it is a header (code block lines never are)."""
    out: list[tuple[lark.Token, bool]] = []
    for child in children:
        if isinstance(child, lark.Tree):  # code block: every line is text
            out.extend((tok, False) for tok in child.children)
        else:
            out.append((child, child.type == "HEADER"))
    return out


def _unclosed_code_block(path: Path, body: str, first_line: int) -> DocumentError:
    opened = None
    for number, raw in enumerate(body.split("\n")):
        if raw.startswith(("```", "~~~")):
            opened = None if opened is not None else number
    line = (opened or 0) + first_line
    return DocumentError("code block opened here is never closed (add a closing ``` line)", Location(path, line, 1))


def read_section(path: Path, raw: RawSection) -> ParsedSection:
    """Interpret a raw section's lines according to its fence type."""
    if raw.fence is None:
        kind, adapter, adapter_col, attrs = SectionType.PROSE, None, 0, ()
    else:
        kind, adapter, adapter_col, attrs = _read_fence(path, raw.fence, raw.line)
    line = raw.line
    lines = raw.lines
    provenance, lines = _read_provenance(path, raw, lines)
    text = "".join(ln.text for ln in lines)
    parsed = ParsedSection(
        kind, line, raw.start, raw.end, raw.fence is not None, adapter, adapter_col, text, attrs,
        provenance=provenance, fence_text=raw.fence.text if raw.fence else "",
    )
    if kind is SectionType.INSTRUCTION:
        parsed.pairs = tuple(_read_pairs(path, raw, lines))
    elif kind is SectionType.PREFERENCE:
        parsed.triples = tuple(_read_triples(path, raw, lines))
    return parsed


def _read_fence(path: Path, fence: Line, number: int) -> tuple[SectionType, str | None, int, tuple[tuple[str, str], ...]]:
    try:
        parsed = parse_fence(fence.text)
    except LineSyntaxError as exc:
        raise DocumentError(exc.message, Location(path, number, exc.col)) from None
    if parsed.type_name not in SECTION_TYPES:
        hint = did_you_mean(parsed.type_name.lower(), SECTION_TYPES)
        raise DocumentError(f"unknown section type '{parsed.type_name}'{hint}", Location(path, number, parsed.type_col))
    kind = SectionType(parsed.type_name)
    required, optional = FENCE_ATTRIBUTES[kind]
    allowed = required + optional
    seen: dict[str, str] = {}
    for key, value, col in parsed.attrs:
        if key in seen:
            raise DocumentError(f"duplicate attribute '{key}'", Location(path, number, col))
        if key not in allowed:
            takes = f"; {kind.value} takes {', '.join(allowed)}" if allowed else f"; {kind.value} fences take no attributes"
            raise DocumentError(f"unknown attribute '{key}'{did_you_mean(key, allowed)}{takes}", Location(path, number, col))
        seen[key] = value
    for key in required:
        if key not in seen:
            raise DocumentError(f"{kind.value} fence is missing required attribute '{key}'", Location(path, number, 1))
        if not seen[key].strip():
            raise DocumentError(f"attribute '{key}' must not be empty", Location(path, number, 1))
    return kind, parsed.adapter, parsed.adapter_col, tuple(seen.items())


def _read_provenance(path: Path, raw: RawSection, lines: list[Line]) -> tuple[Provenance | None, list[Line]]:
    for index, line in enumerate(lines):
        stripped = line.text.strip()
        if not stripped:
            continue
        if not stripped.startswith("<!-- auto-"):
            return None, lines
        try:
            parsed = parse_provenance(line.text)
        except LineSyntaxError as exc:
            raise DocumentError(exc.message, Location(path, raw.number(line), exc.col)) from None
        if parsed.kind not in PROVENANCE_KINDS:
            hint = did_you_mean(parsed.kind, PROVENANCE_KINDS)
            raise DocumentError(f"unknown provenance kind '{parsed.kind}'{hint}", Location(path, raw.number(line), parsed.kind_col))
        seen: set[str] = set()
        for key, _, col in parsed.attrs:
            if key in seen:  # point at the repeat, as fence attributes do
                raise DocumentError(f"duplicate attribute '{key}'", Location(path, raw.number(line), col))
            seen.add(key)
        fields = tuple((k, v) for k, v, _ in parsed.attrs)
        return Provenance(parsed.kind, fields), lines[:index] + lines[index + 1 :]
    return None, lines


_INSTRUCTION_HEADERS = ("Q", "A")
_PREFERENCE_HEADERS = ("Prompt", "Chosen", "Rejected")


def _blocks(path: Path, raw: RawSection, lines: list[Line], own: tuple[str, ...], other: str) -> list[tuple[Line, str]]:
    """Split lines into (header, content) blocks; text before the first header is an error."""
    blocks: list[tuple[Line, list[Line]]] = []
    for line in lines:
        if line.header:
            if line.header_name not in own:
                raise DocumentError(
                    f"'### {line.header_name}' belongs in {other} sections, not here",
                    Location(path, raw.number(line), 1),
                )
            blocks.append((line, []))
        elif blocks:
            blocks[-1][1].append(line)
        elif line.text.strip():
            found = line.text.strip()
            hint = ""
            if found.startswith("#"):
                name = found.lstrip("#").strip().lower()
                match = next((h for h in own if name.startswith(h.lower())), None)
                hint = f" (did you mean '### {match}'?)" if match else did_you_mean(found, [f"### {h}" for h in own])
            raise DocumentError(f"expected '### {own[0]}' before text{hint}", Location(path, raw.number(line), 1))
    if not blocks:
        raise DocumentError(f"section has no '### {own[0]}' entries", Location(path, raw.line, 1))
    return [(header, "".join(ln.text for ln in body)) for header, body in blocks]


def _clean(text: str) -> str:
    return text.replace("\r\n", "\n").strip("\n").rstrip()


def _read_pairs(path: Path, raw: RawSection, lines: list[Line]) -> list[QAPair]:
    blocks = _blocks(path, raw, lines, _INSTRUCTION_HEADERS, "::preference::")
    pairs: list[QAPair] = []
    pending: tuple[Line, str] | None = None
    for header, content in blocks:
        name = header.header_name
        if name == "Q":
            if pending is not None:
                raise DocumentError("'### Q' has no '### A' answer", Location(path, raw.number(pending[0]), 1))
            if not _clean(content):
                raise DocumentError("empty question", Location(path, raw.number(header), 1))
            pending = (header, content)
        else:
            if pending is None:
                raise DocumentError("'### A' without a '### Q' before it", Location(path, raw.number(header), 1))
            if not _clean(content):
                raise DocumentError("empty answer", Location(path, raw.number(header), 1))
            pairs.append(QAPair(_clean(pending[1]), _clean(content), raw.number(pending[0])))
            pending = None
    if pending is not None:
        raise DocumentError("'### Q' has no '### A' answer", Location(path, raw.number(pending[0]), 1))
    return pairs


def _read_triples(path: Path, raw: RawSection, lines: list[Line]) -> list[PreferenceTriple]:
    blocks = _blocks(path, raw, lines, _PREFERENCE_HEADERS, "::instruction::")
    triples: list[PreferenceTriple] = []
    for index, (header, content) in enumerate(blocks):
        expected = _PREFERENCE_HEADERS[index % 3]
        if header.header_name != expected:
            after = f" after '### {_PREFERENCE_HEADERS[index % 3 - 1]}'" if index % 3 else ""
            raise DocumentError(f"expected '### {expected}'{after}, found '### {header.header_name}'", Location(path, raw.number(header), 1))
        if not _clean(content):
            raise DocumentError(f"empty '### {expected}'", Location(path, raw.number(header), 1))
    if len(blocks) % 3:
        header = blocks[-1][0]
        missing = _PREFERENCE_HEADERS[len(blocks) % 3]
        raise DocumentError(f"'### {header.header_name}' is not followed by '### {missing}'", Location(path, raw.number(header), 1))
    for i in range(0, len(blocks), 3):
        (ph, p), (_, c), (rh, r) = blocks[i : i + 3]
        if " ".join(c.split()) == " ".join(r.split()):  # the same answer, up to spacing
            raise DocumentError("'### Rejected' is the same as '### Chosen': a preference needs two different answers",
                                Location(path, raw.number(rh), 1))
        triples.append(PreferenceTriple(_clean(p), _clean(c), _clean(r), raw.number(ph)))
    return triples
