"""``dlm migrate PATH``: rewrite an old document's frontmatter to the current schema.

Only frontmatter key tokens and ``dlm_version`` change; the body and every comment stay as they
were. ``--dry-run`` prints the diff; otherwise a backup is written first (``PATH.vN.bak``).
"""

from __future__ import annotations

import difflib
from pathlib import Path

import typer

from dlmbuild.document.edit import DocumentEditor
from dlmbuild.document.migrate import parent_mapping, pending_migrations
from dlmbuild.document.parse import parse_document
from dlmbuild.document.schema import CURRENT_DLM_VERSION
from dlmbuild.errors import Location, UsageError
from dlmbuild.store.atomic import atomic_write_bytes


def migrate(
    path: Path = typer.Argument(..., help="The .dlm document."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the change; write nothing."),
    backup: bool = typer.Option(True, "--backup/--no-backup", help="Keep a copy of the original beside it."),
) -> None:
    """Upgrade a document to the current schema version."""
    doc = parse_document(path)
    if doc.migrated_from is None:
        typer.echo(f"{path}: already at schema version {doc.config.dlm_version}; nothing to do")
        return
    editor = DocumentEditor(doc)
    raw = doc.frontmatter.data
    for step in pending_migrations(doc.migrated_from):
        for old_path, new_key in step.renames:
            parent = parent_mapping(raw, old_path)
            if parent is not None and old_path[-1] in parent:
                editor.rename_key(".".join(old_path), new_key)
    editor.set("dlm_version", CURRENT_DLM_VERSION)
    new_text = editor.render()
    if dry_run:
        diff = difflib.unified_diff(
            doc.text.splitlines(keepends=True), new_text.splitlines(keepends=True), str(path), f"{path} (migrated)"
        )
        typer.echo("".join(diff), nl=False)
        return
    if backup:
        bak = path.with_name(f"{path.name}.v{doc.migrated_from}.bak")
        if bak.exists():
            raise UsageError(f"backup {bak.name} already exists; move it away or pass --no-backup", Location(path))
        atomic_write_bytes(bak, doc.source.to_bytes())
    editor.write()
    typer.echo(f"{path}: migrated schema v{doc.migrated_from} -> v{CURRENT_DLM_VERSION}" + (f" (backup: {bak.name})" if backup else ""))
