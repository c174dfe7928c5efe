"""``dlm show PATH``: what dlm reads from a document, for people (text) and scripts (``--json``).

The JSON form is a stable contract, documented in docs/show-json.md: fields are only ever added.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from dlmbuild.document.parse import Document, parse_document
from dlmbuild.document.sections import Section
from dlmbuild.document.sources import expand_sources, load_source_sections

SHOW_SCHEMA = "dlm.show/1"


def show(
    path: Path = typer.Argument(..., help="The .dlm document."),
    as_json: bool = typer.Option(False, "--json", help="Print the stable JSON form (docs/show-json.md)."),
) -> None:
    """Show a document's settings, sections and ingested sources."""
    doc = parse_document(path)
    report = show_report(doc)
    if as_json:
        typer.echo(json.dumps(report, indent=2, sort_keys=False))
    else:
        typer.echo(_text(report))


def show_report(doc: Document) -> dict[str, Any]:
    sources = expand_sources(doc)
    ingested, skipped = load_source_sections(doc, sources)
    config = doc.config
    from dlmbuild.bases.modality import VISION, modality_of

    # a vision base trains on the image files a directive selects (rules/train_media.py)
    images = skipped.pop("images_need_a_vision_language_base", 0) if modality_of(config.base_model, doc.path.parent) == VISION else 0
    return {
        "schema": SHOW_SCHEMA,
        "path": str(doc.path),
        "dlm_id": config.dlm_id,
        "dlm_version": config.dlm_version,
        "migrated_from": doc.migrated_from,
        "base_model": config.base_model,
        "system_prompt": config.system_prompt,
        "adapters": config.training.adapter_names,
        "config": config.model_dump(mode="json"),
        "sections": [_section(s) for s in doc.sections],
        "sources": {
            "files": len(ingested),
            "bytes": sum(len(s.text.encode()) for s in ingested),
            "images": images,
            "skipped": dict(sorted(skipped.items())),
            "sections": [_section(s) for s in ingested],
        },
    }


def _section(s: Section) -> dict[str, Any]:
    return {
        "id": s.id,
        "type": s.type.value,
        "adapter": s.adapter,
        "adapters": list(s.adapters),
        "line": s.line,
        "fenced": s.fenced,
        "pairs": len(s.pairs),
        "triples": len(s.triples),
        "chars": len(s.text),
        "attrs": dict(s.attrs),
        "provenance": s.provenance.as_dict() if s.provenance else None,
        "source_path": s.source_path,
    }


def _text(r: dict[str, Any]) -> str:
    out = [
        f"{r['path']}  (dlm_id {r['dlm_id']}, schema v{r['dlm_version']}"
        + (f", upgraded in memory from v{r['migrated_from']}; run `dlm migrate`" if r["migrated_from"] else "")
        + ")",
        f"base: {r['base_model']}",
        f"adapters: {', '.join(r['adapters'])}",
    ]
    if r["system_prompt"]:
        out.append(f"system prompt: {r['system_prompt']}")
    t = r["config"]["training"]
    out.append(
        f"training: {t['adapter']} r={t['lora_r']} alpha={t['lora_alpha']} seq={t['sequence_len']} "
        f"lr={t['learning_rate']} epochs={t['num_epochs']} seed={t['seed']}"
    )
    e = r["config"]["export"]
    out.append(f"export: {e['default_quant']} temp={e['default_temperature']} top_p={e['default_top_p']}")
    out.append("")
    out.append(f"{len(r['sections'])} sections")
    out.append(f"  {'LINE':>5}  {'ID':16}  {'TYPE':11}  {'ADAPTERS':20}  DETAIL")
    for s in r["sections"]:
        detail = []
        if s["pairs"]:
            detail.append(f"{s['pairs']} Q/A")
        if s["triples"]:
            detail.append(f"{s['triples']} preference")
        if s["attrs"]:
            detail.append(" ".join(f"{k}={v}" for k, v in s["attrs"].items()))
        if s["type"] == "prose":
            detail.append(f"{s['chars']} chars")
        if s["provenance"]:
            detail.append(s["provenance"]["kind"])
        adapters = ",".join(s["adapters"]) + ("" if s["adapter"] or s["type"] != "prose" else " (all)")
        out.append(f"  {s['line']:>5}  {s['id']}  {s['type']:11}  {adapters:20}  {'; '.join(detail)}")
    src = r["sources"]
    if src["files"] or src["skipped"] or src.get("images"):
        skipped = ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in src["skipped"].items())
        out.append("")
        images = f", {src['images']} images" if src.get("images") else ""
        out.append(f"sources: {src['files']} files ingested ({src['bytes']} bytes){images}" + (f"; skipped {skipped}" if skipped else ""))
        for s in src["sections"][:10]:
            out.append(f"  {s['source_path']}  {s['id']}  {s['chars']} chars")
        if src["files"] > 10:
            out.append(f"  … and {src['files'] - 10} more (see --json)")
    return "\n".join(out)
