"""The lossless editor: apply edits to a document and leave every other byte unchanged.

Edits are splices on the original text. Section edits use the spans the parser recorded (a
section's span runs from its fence line to the line before the next fence, so a removed section
takes its fence and routing with it and an untouched one keeps both). Frontmatter edits use the
YAML node marks: setting a value replaces that value's characters only, adding a key inserts one
line at the parent's indentation, renaming a key replaces the key token. Comments, quoting,
blank lines, CRLF and a BOM survive because nothing re-serializes the document.

Every result is parsed again before it is returned, so an edit can never produce a document dlm
itself cannot read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dlmbuild.document.frontmatter import Frontmatter, split_frontmatter
from dlmbuild.document.parse import Document, parse_source
from dlmbuild.document.render import SectionDraft, render_section, render_yaml_value
from dlmbuild.document.text import SourceText
from dlmbuild.errors import DlmError
from dlmbuild.store.atomic import atomic_write_bytes


@dataclass
class DocumentEditor:
    """Collects edits against one parsed document; ``render()`` applies them all."""

    doc: Document
    _fm_ops: list[tuple[str, tuple[str, ...], Any]] = field(default_factory=list)
    _removed: list[str] = field(default_factory=list)
    _added: list[tuple[SectionDraft, str | None]] = field(default_factory=list)

    # -- section edits -------------------------------------------------------------------
    def add_section(self, draft: SectionDraft, after: str | None = None) -> None:
        """Append ``draft`` at the end of the document, or right after section ``after``."""
        if after is not None:
            self.doc.section(after)
        self._added.append((draft, after))

    def remove_section(self, section_id: str) -> None:
        self.doc.section(section_id)
        self._removed.append(section_id)

    # -- frontmatter edits ---------------------------------------------------------------
    def set(self, dotted: str, value: Any) -> None:
        self._fm_ops.append(("set", tuple(dotted.split(".")), value))

    def delete(self, dotted: str) -> None:
        self._fm_ops.append(("delete", tuple(dotted.split(".")), None))

    def rename_key(self, dotted: str, new_key: str) -> None:
        self._fm_ops.append(("rename", tuple(dotted.split(".")), new_key))

    # -- applying ------------------------------------------------------------------------
    def render(self) -> str:
        """The edited text (without BOM; ``write`` adds it back when the original had one)."""
        text = self.doc.text
        nl = self.doc.source.newline
        splices: list[tuple[int, int, str]] = []
        for sid in self._removed:
            section = self.doc.section(sid)
            splices.append((section.start, section.end, ""))
        inserts: dict[int, list[str]] = {}
        for draft, after in self._added:
            at = self.doc.section(after).end if after else len(text)
            inserts.setdefault(at, []).append(render_section(draft, nl))
        for at, rendered in inserts.items():
            block = _joined(text, at, nl.join(rendered), nl)
            if text[at:].strip():  # more sections follow: keep a blank line before them
                block += nl
            splices.append((at, at, block))
        out = text
        # Body splices all lie after the frontmatter, so applying them last-first keeps every
        # earlier offset valid, and the frontmatter's own offsets are untouched. A removal and
        # an insertion at the same offset: the removal (longer span) sorts first in this reverse
        # order, so it applies first and the inserted text is not removed with it.
        for start, end, new in sorted(splices, key=lambda s: (s[0], s[1]), reverse=True):
            out = out[:start] + new + out[end:]
        if self._fm_ops:
            fm = self.doc.frontmatter
            fm_text = fm.text
            for op, keys, value in self._fm_ops:
                fm_text = _apply_frontmatter_op(self.doc.path, fm_text, op, keys, value, nl)
            out = out[: fm.start] + fm_text + out[fm.start + len(fm.text) :]
        return out

    def result(self) -> Document:
        """Render and parse the edited document (raises DocumentError if it would be invalid)."""
        src = self.doc.source
        return parse_source(SourceText(src.path, self.render(), src.bom))

    def write(self, path: Path | None = None) -> Document:
        """Validate and atomically write the edited document; returns it parsed."""
        edited = self.result()
        atomic_write_bytes(path or self.doc.path, edited.source.to_bytes())
        return edited


def _joined(text: str, at: int, rendered: str, nl: str) -> str:
    """Separate an inserted section from what precedes it by exactly one blank line."""
    before = text[:at]
    if not before:
        return rendered
    if not before.endswith("\n"):
        return nl + nl + rendered
    if not before.endswith(("\n\n", "\r\n\r\n")):
        return nl + rendered
    return rendered


def _apply_frontmatter_op(path: Path, fm_text: str, op: str, keys: tuple[str, ...], value: Any, nl: str) -> str:
    wrapped = "---\n" + fm_text + "---\n"
    fm = split_frontmatter(path, wrapped)
    key_node, value_node = _exact(fm, keys)
    if op == "rename":
        if key_node is None:
            raise DlmError(f"frontmatter has no key '{'.'.join(keys)}' to rename")
        return _splice(fm_text, key_node.start_mark.index, key_node.end_mark.index, value)
    if op == "delete":
        if key_node is None:
            return fm_text
        start = fm_text.rfind("\n", 0, key_node.start_mark.index) + 1
        end = _value_end(fm_text, value_node)
        newline_at = fm_text.find("\n", end)
        end = len(fm_text) if newline_at == -1 else newline_at + 1
        return fm_text[:start] + fm_text[end:]
    rendered = render_yaml_value(value)
    if key_node is not None:
        if isinstance(value_node, yaml.ScalarNode) or (
            isinstance(value_node, (yaml.MappingNode, yaml.SequenceNode)) and value_node.flow_style
        ):
            if isinstance(value_node, yaml.ScalarNode) and value_node.value == "" and value_node.start_mark.index == value_node.end_mark.index:
                # 'key:' with nothing after it
                at = key_node.end_mark.index
                colon = fm_text.index(":", at)
                return _splice(fm_text, colon + 1, colon + 1, " " + rendered)
            return _splice(fm_text, value_node.start_mark.index, _value_end(fm_text, value_node), rendered)
        # A block collection: replace its lines with a flow value after the key.
        colon = fm_text.index(":", key_node.end_mark.index)
        end = _value_end(fm_text, value_node)
        return fm_text[: colon + 1] + " " + rendered + fm_text[end:]
    return _insert(path, fm_text, keys, rendered, nl)


def _exact(fm: Frontmatter, keys: tuple[str, ...]) -> tuple[yaml.Node | None, yaml.Node | None]:
    node: yaml.Node | None = fm.root
    key_node = None
    for key in keys:
        if not isinstance(node, yaml.MappingNode):
            return None, None
        found = next(((k, v) for k, v in node.value if k.value == key), None)
        if found is None:
            return None, None
        key_node, node = found
    return key_node, node


def _value_end(fm_text: str, node: yaml.Node) -> int:
    """End offset of a value's last meaningful character (block collections end early, before
    any trailing comment or blank line that belongs to what follows)."""
    if isinstance(node, yaml.ScalarNode) or getattr(node, "flow_style", False):
        return _scalar_end(fm_text, node)
    last = node
    while isinstance(last, (yaml.MappingNode, yaml.SequenceNode)) and last.value and not last.flow_style:
        item = last.value[-1]
        last = item[1] if isinstance(last, yaml.MappingNode) else item
    return _scalar_end(fm_text, last)


def _scalar_end(fm_text: str, node: yaml.Node) -> int:
    """A block scalar (``|`` or ``>``) ends, by its mark, after its line break and any trailing
    blank lines, i.e. at the start of the next key's line; splicing there would join the edit
    with that line. Back off to its last content character, as for every other value."""
    end = node.end_mark.index
    if isinstance(node, yaml.ScalarNode) and node.style in ("|", ">"):
        while end > node.start_mark.index + 1 and fm_text[end - 1] in " \t\r\n":
            end -= 1
    return end


def _insert(path: Path, fm_text: str, keys: tuple[str, ...], rendered: str, nl: str) -> str:
    """Add a missing key: one line at the indentation of its siblings, after the last of them;
    missing parents are created as block mappings."""
    wrapped = "---\n" + fm_text + "---\n"
    fm = split_frontmatter(path, wrapped)
    parent: yaml.Node | None = fm.root
    depth = 0
    for key in keys[:-1]:
        if not isinstance(parent, yaml.MappingNode):
            break
        found = next((v for k, v in parent.value if k.value == key), None)
        if found is None or not isinstance(found, yaml.MappingNode) or found.flow_style:
            if found is not None and isinstance(found, yaml.MappingNode) and found.flow_style:
                raise DlmError(f"cannot add a key inside the flow mapping '{'.'.join(keys[: depth + 1])}'")
            break
        parent = found
        depth += 1
    unit = _indent_unit(fm_text)
    if isinstance(parent, yaml.MappingNode) and parent.value:
        indent = parent.value[0][0].start_mark.column
        at = _value_end(fm_text, parent.value[-1][1])
        newline_at = fm_text.find("\n", at)
        at = len(fm_text) if newline_at == -1 else newline_at + 1
    else:
        indent, at = 0, len(fm_text)
    lines = []
    for offset, key in enumerate(keys[depth:-1]):
        lines.append(" " * (indent + offset * unit) + f"{key}:")
    lines.append(" " * (indent + (len(keys) - 1 - depth) * unit) + f"{keys[-1]}: {rendered}")
    prefix = "" if at == 0 or fm_text[:at].endswith("\n") else nl
    return fm_text[:at] + prefix + nl.join(lines) + nl + fm_text[at:]


def _indent_unit(fm_text: str) -> int:
    widths = [len(line) - len(line.lstrip(" ")) for line in fm_text.splitlines() if line.strip() and line.startswith(" ")]
    return min(widths) if widths else 2


def _splice(text: str, start: int, end: int, new: str) -> str:
    return text[:start] + new + text[end:]
