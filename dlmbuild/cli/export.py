"""``dlm export DOC --target T``: a front for ``dlm build DOC :export-T`` with export flags.

Everything is built by the engine, cached and recorded in dlm.lock like any target; this
command only turns flags into build options and, for Ollama, runs ``ollama create`` when Ollama
is installed (otherwise it prints the exact command).
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import typer

from dlmbuild.cli.build import run_build
from dlmbuild.errors import EnvironmentProblem, UsageError
from dlmbuild.export.kinds import BUNDLE_KINDS, EXPORT_TARGETS, build_target, is_bundle

TARGETS = EXPORT_TARGETS


def export(
    doc: Path = typer.Argument(..., help="The .dlm document."),
    target: str = typer.Option("ollama", "--target", "-t", help=f"One of: {', '.join(TARGETS)}."),
    quant: str = typer.Option(None, "--quant", "-q", help="GGUF quant (f16, q8_0, q4_k_m, q5_k_m, q6_k); default export.default_quant."),
    adapter: str = typer.Option(None, "--adapter", "-a", help="Export only this adapter."),
    adapter_mix: str = typer.Option(None, "--adapter-mix", help="Weighted sum of adapters, e.g. knowledge:1.0,tone:0.5."),
    out: Path = typer.Option(None, "--out", "-o", help="Install the bundle here instead of the store's exports/ folder."),
    name: str = typer.Option(None, "--name", help="Ollama model name for `ollama create` (default: the document's name)."),
    no_smoke: bool = typer.Option(False, "--no-smoke", help="Skip loading each GGUF in llama.cpp and generating."),
    dequantize: bool = typer.Option(False, "--dequantize", help="Allow merging QLoRA adapters into the full-precision base."),
    merged: bool = typer.Option(False, "--merged", help="With --dequantize: accept a merged (not adapter) export of a QLoRA mix."),
    explain: bool = typer.Option(False, "--explain", help="Say which input changed for every target that runs."),
) -> None:
    """Export the trained document to a runtime (builds and trains what is out of date)."""
    if target not in TARGETS:
        from dlmbuild.util.suggest import did_you_mean

        raise UsageError(f"unknown export target '{target}'{did_you_mean(target, TARGETS)}; choose one of: {', '.join(TARGETS)}")
    if dequantize != merged:
        raise UsageError("--dequantize and --merged go together: a QLoRA mix can only be exported merged into the dequantized base")
    options: dict = {"smoke": not no_smoke}
    if quant:
        from dlmbuild.export.convert import check_quant

        options["quant"] = check_quant(quant)
    if adapter:
        options["adapter"] = adapter
    if adapter_mix:
        options["adapter_mix"] = adapter_mix
    if dequantize:
        options["dequantize"] = True
    if out:
        if not is_bundle(target):
            raise UsageError(f"--out applies to bundles ({', '.join(BUNDLE_KINDS)})")
        options["out"] = str(out.resolve())
    _require_trained(doc, options)
    code = run_build(doc, [build_target(target)], explain=explain, options=options)
    if code:
        raise typer.Exit(code)
    folder = out.resolve() if out else _exports_folder(doc, target)
    if folder is not None:
        typer.echo(f"dlm: {target} export in {folder}")
    if target == "ollama" and folder is not None:
        _ollama_create(folder, name or doc.stem)


def _require_trained(doc: Path, options: dict) -> None:
    """Export ships what was trained: before any training there is nothing to export, and the
    fix is `dlm train` (a long step the user should start knowingly). After that, `dlm export`
    brings stale adapters up to date like any build."""
    from dlmbuild.export.mix import select
    from dlmbuild.infer.session import current_version
    from dlmbuild.project import Project

    project = Project.open(doc)
    names = project.doc.config.training.adapter_names
    for item in select(names, options.get("adapter"), options.get("adapter_mix")):
        current_version(project, item.adapter)


def _exports_folder(doc: Path, target: str) -> Path | None:
    """Where the bundle was installed; ``None`` for GGUF targets, which install nothing."""
    if not is_bundle(target):
        return None
    from dlmbuild.project import Project

    return Project.open(doc).layout.exports / target


def _ollama_create(folder: Path, model: str) -> None:
    """Register the bundle with Ollama, or print the command when Ollama is not installed."""
    command = ["ollama", "create", model, "-f", str(folder / "Modelfile")]
    shown = " ".join(shlex.quote(c) for c in command)
    if shutil.which("ollama") is None:
        typer.echo(f"dlm: Ollama is not installed here; to use the model run: {shown}")
        return
    typer.echo(f"dlm: {shown}")
    done = subprocess.run(command, cwd=folder)
    if done.returncode != 0:
        raise EnvironmentProblem(f"`{shown}` failed (exit {done.returncode})")

