"""``dlm metrics DOC``: what training recorded (store/<dlm_id>/metrics.sqlite), for people and scripts.

Read-only and light: it opens the SQLite file the trainer writes (never creating it), and imports
neither torch nor transformers, so it answers at once, even while a run is still writing. The
``--json`` form is a stable contract (schema ``dlm.metrics/1``, docs/cli.md): fields are only added.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sqlite3
import textwrap
import time
from pathlib import Path

import typer

from dlmbuild.document.parse import parse_document
from dlmbuild.util.suggest import did_you_mean
from dlmbuild.errors import EnvironmentProblem, Location, UsageError
from dlmbuild.store.atomic import atomic_write_bytes
from dlmbuild.store.layout import StoreLayout, dlm_home

METRICS_SCHEMA = "dlm.metrics/1"
MAX_STEP_ROWS = 40  # a longer run's step table shows every k-th step (and the last)
# Plan fields in the order people look for them; any others follow alphabetically.
PLAN_ORDER = ("kind", "r", "alpha", "dropout", "learning_rate", "scheduler", "warmup_steps", "epochs", "steps",
              "micro_batch", "grad_accum", "sequence_len", "blocks", "optimizer", "seed", "target_modules")


def metrics(
    doc: Path = typer.Argument(..., help="The .dlm document."),
    run: int = typer.Option(None, "--run", help="Show one run: its plan and per-step loss, learning rate, throughput."),
    adapter: str = typer.Option(None, "--adapter", help="Only runs of this adapter."),
    as_json: bool = typer.Option(False, "--json", help=f"Print the stable JSON form (schema {METRICS_SCHEMA})."),
    plot: Path = typer.Option(None, "--plot", help="Also draw the loss curve(s) into this .png file."),
    home: Path = typer.Option(None, "--home", help="The dlm home (default $DLM_HOME or ~/.dlm)."),
) -> None:
    """Show training runs: loss, learning rate and throughput per run and per step."""
    if plot is not None and plot.suffix.lower() != ".png":
        raise UsageError(f"--plot {plot}: the plot is a PNG image; give a path ending in .png")
    if plot is not None and importlib.util.find_spec("PIL") is None:
        raise EnvironmentProblem("--plot draws with Pillow, which is not installed (pip install pillow)")
    document = parse_document(doc)
    layout = StoreLayout(home or dlm_home(), document.config.dlm_id)
    db = _open(doc, layout)
    try:
        every_run = db.runs()
        if not every_run:
            raise UsageError(f"no training runs recorded for {doc} yet; run 'dlm train {doc}'")
        runs = every_run if adapter is None else _of_adapter(doc, every_run, adapter, document.config.training.adapter_names)
        chosen = _find_run(every_run, run, adapter) if run is not None else None
        steps = db.steps(chosen["id"]) if chosen else []
        # Draw before printing anything, so that "nothing to plot" is the command's only output.
        png = _render(runs, chosen, steps, db) if plot is not None else None
    except sqlite3.DatabaseError as exc:
        raise EnvironmentProblem(f"cannot read training metrics: {exc}", Location(layout.metrics)) from None
    finally:
        db.close()
    if as_json:
        if chosen:
            body = {"run": _run_json(chosen) | {"steps": [_clean(s) for s in steps]}}
        else:
            body = {"runs": [_run_json(r) for r in runs]}
        typer.echo(json.dumps({"schema": METRICS_SCHEMA} | body, indent=2, allow_nan=False))
    else:
        typer.echo(_run_text(doc, chosen, steps) if chosen else _runs_text(doc, runs))
    if plot is not None:
        atomic_write_bytes(plot, png)
        typer.echo(f"wrote {plot}", err=as_json)  # keep stdout pure JSON


def _open(doc: Path, layout: StoreLayout):
    """The document's metrics database; refuses, without creating one, when training never ran."""
    from dlmbuild.train.metrics import MetricsDB

    if not layout.metrics.is_file():
        raise UsageError(f"no training runs recorded for {doc} yet; run 'dlm train {doc}'")
    try:
        return MetricsDB(layout.metrics)
    except sqlite3.DatabaseError as exc:  # not a database, or unreadable
        raise EnvironmentProblem(f"cannot read training metrics: {exc}", Location(layout.metrics)) from None


def _of_adapter(doc: Path, runs: list[dict], adapter: str, declared: list[str]) -> list[dict]:
    """The runs of ``adapter``; an adapter neither declared nor ever trained is an error."""
    known = sorted(set(declared) | {r["adapter"] for r in runs})
    if adapter not in known:
        raise UsageError(f"unknown adapter '{adapter}'{did_you_mean(adapter, known)} (known: {', '.join(known)})")
    chosen = [r for r in runs if r["adapter"] == adapter]
    if not chosen:
        raise UsageError(f"no training runs recorded for adapter '{adapter}' of {doc} yet; run 'dlm train {doc}'")
    return chosen


def _find_run(runs: list[dict], run_id: int, adapter: str | None) -> dict:
    for r in runs:
        if r["id"] == run_id:
            if adapter is not None and r["adapter"] != adapter:
                raise UsageError(f"run {run_id} trained adapter '{r['adapter']}', not '{adapter}'")
            return r
    raise UsageError(f"unknown run {run_id}; recorded runs: {_id_ranges([r['id'] for r in runs])}")


def _id_ranges(ids: list[int]) -> str:
    """``1-4, 7, 9-10``: a long history of run ids stays one short line."""
    parts: list[str] = []
    for i in sorted(ids):
        if parts and parts[-1][1] == i - 1:
            parts[-1][1] = i
        else:
            parts.append([i, i])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in parts)


def _latest_per_adapter(runs: list[dict]) -> list[dict]:
    latest = {r["adapter"]: r for r in runs}  # runs come in id order, so the last one wins
    return sorted(latest.values(), key=lambda r: r["id"])


def _duration(r: dict) -> float | None:
    return r["finished"] - r["started"] if r["finished"] is not None else None


def _clean(row: dict) -> dict:
    """JSON has no NaN or infinity: a diverged loss becomes null."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}


def _run_json(r: dict) -> dict:
    return _clean({
        "id": r["id"], "adapter": r["adapter"], "key": r["key"], "status": r["status"],
        "started": r["started"], "finished": r["finished"], "duration_s": _duration(r),
        "step_count": r["steps"], "final_loss": r["final_loss"], "tokens_per_s": r["tokens_per_s"], "plan": r["plan"],
    })


def _local(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def _human_seconds(s: float | None) -> str:
    if s is None:
        return "-"
    s = max(0, round(s))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _num(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def _runs_text(doc: Path, runs: list[dict]) -> str:
    out = [f"{len(runs)} training run(s) of {doc}",
           f"  {'RUN':>4}  {'ADAPTER':14}  {'STATUS':11}  {'STEPS':>6}  {'FINAL LOSS':>10}  {'TOK/S':>8}  "
           f"{'STARTED':19}  DURATION"]
    for r in runs:
        out.append(f"  {r['id']:>4}  {r['adapter']:14}  {r['status']:11}  {r['steps']:>6}  "
                   f"{_num(r['final_loss'], '.4f'):>10}  {_num(r['tokens_per_s'], '.0f'):>8}  "
                   f"{_local(r['started']):19}  {_human_seconds(_duration(r))}")
    return "\n".join(out)


def _plan_text(plan: dict) -> str:
    keys = [k for k in PLAN_ORDER if k in plan] + sorted(k for k in plan if k not in PLAN_ORDER and k != "adapter")
    items = " ".join(f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in ((k, plan[k]) for k in keys))
    return textwrap.fill(items or "(none recorded)", width=100, initial_indent="plan: ", subsequent_indent="      ")


def _run_text(doc: Path, r: dict, steps: list[dict]) -> str:
    out = [
        f"run {r['id']} of {doc}: adapter {r['adapter']}, {r['status']}",
        f"started {_local(r['started'])}, took {_human_seconds(_duration(r))}, final loss {_num(r['final_loss'], '.4f')}, "
        f"{_num(r['tokens_per_s'], '.0f')} tok/s, key {r['key'][:16]}",
        _plan_text(r["plan"]),
        "",
    ]
    if not steps:
        out.append("no steps recorded")
        return "\n".join(out)
    every = math.ceil(len(steps) / MAX_STEP_ROWS)
    shown = steps[::every] if steps[::every][-1] is steps[-1] else [*steps[::every], steps[-1]]
    out.append(f"  {'STEP':>6}  {'LOSS':>9}  {'LR':>9}  {'TOK/S':>8}")
    for s in shown:
        out.append(f"  {s['step']:>6}  {s['loss']:>9.4f}  {s['lr']:>9.2e}  {s['tokens_per_s']:>8.0f}")
    if every > 1:
        out.append(f"showing {len(shown)} of {len(steps)} recorded steps (one in {every}, and the last); --json lists all")
    return "\n".join(out)


def _render(runs: list[dict], chosen: dict | None, steps: list[dict], db) -> bytes:
    """The PNG of the chosen run's loss, or of the latest run of each adapter."""
    from dlmbuild.train.plot import Curve, render_loss_png

    drawn = [(chosen, steps)] if chosen else [(r, db.steps(r["id"])) for r in _latest_per_adapter(runs)]
    curves = [Curve(f"{r['adapter']} (run {r['id']})", [(s["step"], s["loss"]) for s in run_steps])
              for r, run_steps in drawn]
    try:
        return render_loss_png(curves)
    except ValueError:
        ids = _id_ranges([r["id"] for r, _ in drawn])
        raise UsageError(f"nothing to plot: no finite loss recorded yet for run(s) {ids}") from None
