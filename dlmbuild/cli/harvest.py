"""``dlm harvest DOC --report R``: failed probes with a reference answer become Q/A sections.

Without ``--apply`` it prints the unified diff it would make and writes nothing; ``--apply``
writes it losslessly and atomically. ``--revert`` takes harvested sections out again (those
naming ``--report``'s file, or every ``auto-harvest`` section without ``--report``), as a diff or,
with ``--apply``, in place. Planning lives in dlmbuild/eval/harvest.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from dlmbuild.errors import UsageError


def harvest(
    doc: Path = typer.Argument(..., help="The .dlm document."),
    report_path: Path = typer.Option(None, "--report", "--sway-json", help="A dlm eval report (dlm.eval/1) about DOC."),
    apply: bool = typer.Option(False, "--apply", help="Write the change to DOC (default: print it as a diff)."),
    revert: bool = typer.Option(False, "--revert", help="Remove harvested sections instead (only those from --report, if given)."),
) -> None:
    """Add failed eval probes back into the document as Q/A pairs (or remove them again)."""
    from dlmbuild.document.parse import parse_source
    from dlmbuild.document.text import read_document_text
    from dlmbuild.eval import harvest as plan
    from dlmbuild.eval.report import read_report

    if report_path is None and not revert:
        raise UsageError("harvest needs --report REPORT.json (written by 'dlm eval DOC PROBES --report REPORT.json')")
    source = read_document_text(doc)
    data = source.to_bytes()  # the file's bytes: decoding keeps every one, BOM and CRLF included
    document = parse_source(source)
    report = read_report(report_path) if report_path is not None else None
    if report is not None:
        plan.check_report_matches(document, report, report_path)
    if revert:
        sections = plan.harvested_sections(document, report_path.name if report_path is not None else None)
        new_text = plan.reverted_text(document, sections)
        _finish(document, new_text, apply, "reverted", f"removed {len(sections)} harvested section(s)")
        return
    if apply:
        plan.check_unchanged(data, report, doc)
    elif not _unchanged(data, report):
        print(f"dlm: note: {doc.name} changed since the report was written; re-run 'dlm eval' before --apply", file=sys.stderr)
    harvest_plan = plan.plan_harvest(document, report, report_path.name)
    new_text = plan.harvest_editor(document, harvest_plan).render()
    _finish(document, new_text, apply, "harvested", harvest_plan.summary())


def _unchanged(data: bytes, report: dict) -> bool:
    import hashlib

    return hashlib.sha256(data).hexdigest() == report["document_sha256"]


def _finish(document, new_text: str, apply: bool, label: str, summary: str) -> None:
    """Write (``--apply``) or show the diff; then the one-line summary."""
    from dlmbuild.eval.harvest import unified_diff, write_text

    if apply:
        if new_text != document.text:
            write_text(document, new_text)
        print(f"{summary}; wrote {document.path}" if new_text != document.text else f"{summary}; {document.path} unchanged")
        return
    sys.stdout.write(unified_diff(document, new_text, label))
    print(f"{summary} (dry run: add --apply to write {document.path})")
