"""Writing generated sections back into a document, and taking them out again.

Shared by ``dlm harvest`` (``auto-harvest``), ``dlm synth`` (``auto-synth``) and preference
mining: sections are found by their provenance comment; removal goes through the lossless
``DocumentEditor``; every write re-parses the new text first (dlm never writes what it cannot
read) and replaces the file atomically, keeping its BOM and line endings.
"""

from __future__ import annotations

import difflib

from dlmbuild.document.edit import DocumentEditor
from dlmbuild.document.parse import Document, parse_source
from dlmbuild.document.sections import Section
from dlmbuild.document.text import SourceText
from dlmbuild.store.atomic import atomic_write_bytes


def sections_with_provenance(doc: Document, kind: str, **fields: str) -> list[Section]:
    """Sections whose provenance is ``kind`` and whose fields include every ``fields`` item."""
    found = []
    for section in doc.sections:
        prov = section.provenance
        if prov is None or prov.kind != kind:
            continue
        values = prov.as_dict()
        if all(values.get(k) == v for k, v in fields.items()):
            found.append(section)
    return found


def reverted_text(doc: Document, sections: list[Section]) -> str:
    """The document text without ``sections``. The editor removes each section's span (fence to
    the line before the next fence); a removed run at the very end also takes the one blank
    line insertion put before it, so the text ends as it did before the sections were added."""
    editor = DocumentEditor(doc)
    for section in sections:
        editor.remove_section(section.id)
    text = editor.render()
    last_removed = bool(doc.sections) and doc.sections[-1].id in {s.id for s in sections}
    nl = doc.source.newline
    if last_removed and text.endswith(nl + nl):
        text = text[: -len(nl)]
    return text


def write_text(doc: Document, text: str) -> Document:
    """Parse ``text`` as the new version of ``doc`` (never write what dlm cannot read), then
    replace the file atomically, keeping its BOM."""
    edited = parse_source(SourceText(doc.source.path, text, doc.source.bom))
    atomic_write_bytes(doc.path, edited.source.to_bytes())
    return edited


def unified_diff(doc: Document, new_text: str, label: str) -> str:
    """A unified diff of the document, old to new (empty when nothing changes)."""
    name = str(doc.path)
    lines = difflib.unified_diff(doc.text.splitlines(keepends=True), new_text.splitlines(keepends=True),
                                 fromfile=name, tofile=f"{name} ({label})")
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)
