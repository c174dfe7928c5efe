"""Splitting the frontmatter off a document and loading it with every node's position.

PyYAML's composer keeps start and end marks on every node. We keep that tree beside the loaded
data so that (a) a schema error points at the exact line and column of the offending key or
value, (b) duplicate keys, which plain ``safe_load`` silently collapses, are refused, and (c) the
lossless writer can replace one value's characters and nothing else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dlmbuild.errors import DocumentError, Location
from dlmbuild.util.text import one_line

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DELIMITER = re.compile(r"---[ \t]*\r?(?:\n|\Z)")


@dataclass(frozen=True)
class Frontmatter:
    """The frontmatter's text, where it sits in the document, its loaded data and node tree."""

    text: str
    start: int  # offset of the first frontmatter character in the document text
    end: int  # offset just past the closing '---' line (where the body starts)
    first_line: int  # 1-based document line of the frontmatter's first line
    data: dict[str, Any]
    root: yaml.MappingNode | None

    def location(self, path: Path, mark: yaml.Mark) -> Location:
        """Map a YAML mark (0-based, frontmatter-relative) to a document location."""
        return Location(path, mark.line + self.first_line, mark.column + 1)

    def find(self, keys: tuple[str | int, ...]) -> tuple[yaml.Node | None, yaml.Node | None]:
        """The (key node, value node) at ``keys``, descending as far as the tree allows.

        Returns the deepest pair reached, so an error on a missing or unknown field can still
        point at its parent.
        """
        node: yaml.Node | None = self.root
        key_node: yaml.Node | None = None
        for key in keys:
            if isinstance(node, yaml.MappingNode) and isinstance(key, str):
                found = next(((k, v) for k, v in node.value if k.value == key), None)
                if found is None:
                    return key_node, node
                key_node, node = found
            elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
                key_node, node = None, node.value[key]
            else:
                return key_node, node
        return key_node, node


def split_frontmatter(path: Path, text: str) -> Frontmatter:
    """Find the ``---`` delimited frontmatter at the top of ``text`` and load it."""
    opening = _DELIMITER.match(text)
    if opening is None:
        raise DocumentError("a .dlm document must start with a '---' line opening the frontmatter", Location(path, 1, 1))
    start = opening.end()
    closing = None
    for match in re.finditer(r"^---[ \t]*\r?(?:\n|\Z)", text[start:], flags=re.MULTILINE):
        closing = match
        break
    if closing is None:
        raise DocumentError("frontmatter opened on line 1 is never closed with a '---' line", Location(path, 1, 1))
    fm_text = text[start : start + closing.start()]
    end = start + closing.end()
    data, root = _load(path, fm_text)
    return Frontmatter(text=fm_text, start=start, end=end, first_line=2, data=data, root=root)


def _load(path: Path, fm_text: str) -> tuple[dict[str, Any], yaml.MappingNode | None]:
    loader = _Loader(fm_text)
    try:
        root = loader.get_single_node()
        if root is None:
            return {}, None
        if not isinstance(root, yaml.MappingNode):
            raise DocumentError(
                "frontmatter must be a mapping of keys to values",
                Location(path, root.start_mark.line + 2, root.start_mark.column + 1),
            )
        _refuse_duplicate_keys(path, root)
        data = loader.construct_document(root)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        loc = Location(path, mark.line + 2, mark.column + 1) if mark else Location(path, 2)
        raise DocumentError(one_line(f"invalid YAML in frontmatter: {problem}"), loc) from None
    except yaml.YAMLError as exc:
        raise DocumentError(one_line(f"invalid YAML in frontmatter: {exc}"), Location(path, 2)) from None
    finally:
        loader.dispose()
    return data, root


def _refuse_duplicate_keys(path: Path, node: yaml.Node, seen_nodes: set[int] | None = None) -> None:
    # An alias makes the node tree a graph (``a: &a [*a]`` is even a cycle), so each node is
    # checked once; without this a recursive alias ends in RecursionError, not a located error.
    seen_nodes = set() if seen_nodes is None else seen_nodes
    if id(node) in seen_nodes:
        return
    seen_nodes.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if key is not None and key in seen:
                first = seen[key].start_mark.line + 2
                raise DocumentError(
                    one_line(f"duplicate key '{key}' (first set on line {first})"),
                    Location(path, key_node.start_mark.line + 2, key_node.start_mark.column + 1),
                )
            if key is not None:
                seen[key] = key_node
            _refuse_duplicate_keys(path, value_node, seen_nodes)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _refuse_duplicate_keys(path, item, seen_nodes)
