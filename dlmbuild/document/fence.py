"""Parsing one fence line (``::type#adapter key="value"::``) and a provenance comment.

Both use entry points of the same lark grammar as the body. Errors carry the column inside the
line, which the caller shifts to the document position.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import lark

from dlmbuild.document.grammar import parser


@dataclass(frozen=True)
class FenceLine:
    type_name: str
    type_col: int  # 1-based column of the type name within the line
    adapter: str | None
    adapter_col: int
    attrs: tuple[tuple[str, str, int], ...]  # (key, value, column)


@dataclass(frozen=True)
class ProvenanceLine:
    kind: str
    kind_col: int
    attrs: tuple[tuple[str, str, int], ...]


class LineSyntaxError(Exception):
    """A fence or provenance line that does not parse; ``col`` is 1-based within the line."""

    def __init__(self, message: str, col: int):
        super().__init__(message)
        self.message = message
        self.col = col


# A document repeats a handful of fence lines (``::instruction::``, ``::prose#tone::``) thousands
# of times; the parse of a line is a pure function of its text, so it is memoized. Errors are
# not cached: they are raised again, with the same message, on the next call.
@lru_cache(maxsize=4096)
def parse_fence(line: str) -> FenceLine:
    tree = _parse(line.rstrip("\r\n"), "fence", "section fence", "::")
    type_tok = tree.children[0]
    adapter, adapter_col = None, 0
    attrs = []
    for child in tree.children[1:]:
        if child.data == "adapter_suffix":
            tok = child.children[0]
            adapter, adapter_col = str(tok), tok.column
        else:
            attrs.append(_attribute(child))
    return FenceLine(str(type_tok), type_tok.column, adapter, adapter_col, tuple(attrs))


@lru_cache(maxsize=4096)
def parse_provenance(line: str) -> ProvenanceLine:
    tree = _parse(line.rstrip("\r\n"), "provenance", "provenance comment", "-->")
    kind = tree.children[0]
    return ProvenanceLine(str(kind), kind.column, tuple(_attribute(c) for c in tree.children[1:]))


def _attribute(node: lark.Tree) -> tuple[str, str, int]:
    key, value = node.children
    text = str(value)
    if value.type == "QUOTED":
        text = text[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return str(key), text, key.column


def _parse(line: str, start: str, what: str, closer: str) -> lark.Tree:
    try:
        return parser().parse(line, start=start)
    except lark.UnexpectedInput as exc:
        col = getattr(exc, "column", None) or 1
        if col < 0:
            col = len(line) + 1
        if not line.rstrip().endswith(closer):
            raise LineSyntaxError(f"{what} must end with '{closer}'", len(line.rstrip()) + 1) from None
        if line.count('"') % 2:
            raise LineSyntaxError(f"unterminated quoted value in {what}", line.index('"') + 1) from None
        near = line[col - 1 : col + 11].strip() or "end of line"
        raise LineSyntaxError(f"malformed {what} near '{near}'", col) from None
