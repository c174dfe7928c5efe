"""The ``dlm.eval/1`` report: what ``dlm eval --report`` writes and ``dlm harvest`` reads.

A plain JSON object (docs/eval.md lists every field). It names the document by ``dlm_id`` and by
the sha256 of its bytes when eval ran, so harvest can refuse a report about another document or
about an older text of this one. Fields are only ever added; a reader checks the schema string.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from dlmbuild.errors import DocumentError, Location
from dlmbuild.eval.probes import Probe
from dlmbuild.eval.score import ALL, summarize
from dlmbuild.store.atomic import atomic_write_text

SCHEMA = "dlm.eval/1"
SYSTEMS = ("adapter", "base", "in-context")
REQUIRED = ("schema", "dlm_id", "document_sha256", "adapter", "systems", "probes", "summary", "score")


def file_sha256(path: str | Path) -> str:
    """The hex sha256 of a file's bytes (the document as eval saw it)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def build_report(*, dlm_id: str, document: str, document_sha256: str, probes_file: str, adapter: str,
                 adapter_version: str, base: str, max_new_tokens: int, probes: list[Probe],
                 answers: dict[str, list[str]], passed: dict[str, list[bool]],
                 in_context: dict | None = None) -> dict:
    """The report as a JSON-ready dict. ``answers`` and ``passed`` map each system that ran
    (``adapter`` first) to one entry per probe, in probe order."""
    systems = [s for s in SYSTEMS if s in answers]
    summary = summarize(probes, {s: passed[s] for s in systems})
    report = {
        "schema": SCHEMA,
        "dlm_id": dlm_id,
        "document": document,
        "document_sha256": document_sha256,
        "probes_file": probes_file,
        "adapter": adapter,
        "adapter_version": adapter_version,
        "base": base,
        "settings": {"max_new_tokens": max_new_tokens, "temperature": 0},
        "systems": systems,
        "probes": [
            {
                "line": probe.line,
                "kind": probe.kind,
                "question": probe.question,
                "expected": probe.expected.as_dict(),
                "answer": probe.answer,
                "results": {s: {"text": answers[s][i], "pass": passed[s][i]} for s in systems},
            }
            for i, probe in enumerate(probes)
        ],
        "summary": summary,
        "score": summary["adapter"][ALL]["score"],
    }
    if in_context is not None:
        report["in_context"] = in_context
    return report


def write_report(path: str | Path, report: dict) -> None:
    """Write ``report`` atomically: a crash never leaves half a report for harvest to read."""
    atomic_write_text(path, json.dumps(report, indent=2, ensure_ascii=False) + "\n")


def read_report(path: str | Path) -> dict:
    """A report from disk, checked enough that harvest can rely on its shape; a DocumentError
    (exit 2) naming the file otherwise."""
    here = Location(path)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DocumentError("no such report (write one with 'dlm eval DOC PROBES --report FILE')", here) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DocumentError(f"cannot read the report: {exc}", here) from None
    except json.JSONDecodeError as exc:
        raise DocumentError(f"not a dlm eval report (invalid JSON: {exc.msg})", Location(path, exc.lineno, exc.colno)) from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else None
        raise DocumentError(f"not a dlm eval report (schema {found!r}, expected '{SCHEMA}')", here)
    missing = [key for key in REQUIRED if key not in data]
    if missing:
        raise DocumentError(f"not a complete dlm eval report: missing {', '.join(missing)}", here)
    if not isinstance(data["probes"], list) or not all(_probe_ok(p) for p in data["probes"]):
        raise DocumentError("not a complete dlm eval report: each probe needs line, question, answer and results", here)
    return data


def _probe_ok(probe) -> bool:
    return (isinstance(probe, dict) and isinstance(probe.get("line"), int) and isinstance(probe.get("question"), str)
            and (probe.get("answer") is None or isinstance(probe.get("answer"), str))
            and isinstance(probe.get("results"), dict))
