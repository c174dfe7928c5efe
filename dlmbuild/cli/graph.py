"""``dlm graph DOC``: the target graph with each target's state and, if dirty, why.

States: ``up-to-date`` (its outputs are cached under its current key), ``dirty`` (a build would
run it; the reasons say which input moved), ``unavailable`` (this dlm cannot build it, or it
needs one that cannot be built: ``dlm build`` refuses it up front; the reason says why).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from dlmbuild.cli.common import make_engine, open_project
from dlmbuild.errors import UsageError

FORMATS = ("text", "dot", "mermaid", "json")


def graph(
    doc: Path = typer.Argument(..., help="The .dlm document."),
    fmt: str = typer.Option("text", "--format", "-f", help="text, dot, mermaid or json."),
    dirty: bool = typer.Option(False, "--dirty", help="Only targets that would build."),
) -> None:
    """Show the target graph of a document and what is out of date."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown format '{fmt}'; choose from {', '.join(FORMATS)}")
    project, g = open_project(doc)
    engine = make_engine(project, g, quiet=True)
    results = {r.name: r for r in engine.run(g.order(), dry_run=True, explain=True)}
    names = [n for n in g.order() if not dirty or results[n].status == "dirty"]
    nodes = []
    for name in names:
        t, r = g.targets[name], results[name]
        state = "up-to-date" if r.status == "cached" else r.status
        nodes.append({"target": name, "rule": t.rule_id, "state": state, "deps": list(t.deps), "heavy": t.heavy,
                      "reasons": r.reasons if r.status in ("dirty", "unavailable") else [], "description": t.description})
    typer.echo(RENDER[fmt](nodes, g.aliases))


def _text(nodes, aliases) -> str:
    lines = []
    for n in nodes:
        deps = f"  <- {', '.join(n['deps'])}" if n["deps"] else ""
        lines.append(f"{n['target']:22} {n['state']:11}{deps}")
        for reason in n["reasons"]:
            lines.append(f"{'':22}   because {reason}")
    if aliases:
        lines.append("")
        lines += [f"{a} = {' '.join(m)}" for a, m in sorted(aliases.items())]
    return "\n".join(lines)


def _dot(nodes, aliases) -> str:
    colors = {"up-to-date": "palegreen", "dirty": "gold", "unavailable": "lightgrey"}
    lines = ["digraph dlm {", "  rankdir=LR;", "  node [shape=box, style=filled];"]
    for n in nodes:
        lines.append(f'  "{n["target"]}" [fillcolor={colors.get(n["state"], "white")}, tooltip="{n["state"]}"];')
    shown = {n["target"] for n in nodes}
    for n in nodes:
        lines += [f'  "{d}" -> "{n["target"]}";' for d in n["deps"] if d in shown]
    return "\n".join(lines + ["}"])


def _mermaid(nodes, aliases) -> str:
    ids = {n["target"]: f"t{i}" for i, n in enumerate(nodes)}
    lines = ["graph LR"]
    for n in nodes:
        lines.append(f'  {ids[n["target"]]}["{n["target"]} ({n["state"]})"]')
    for n in nodes:
        lines += [f"  {ids[d]} --> {ids[n['target']]}" for d in n["deps"] if d in ids]
    return "\n".join(lines)


def _json(nodes, aliases) -> str:
    return json.dumps({"targets": nodes, "aliases": aliases}, indent=1)


RENDER = {"text": _text, "dot": _dot, "mermaid": _mermaid, "json": _json}
