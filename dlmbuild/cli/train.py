"""``dlm train DOC``: ``dlm build DOC :train`` (or ``:train-NAME`` with ``--adapter``)."""

from __future__ import annotations

from pathlib import Path

import typer

from dlmbuild.cli.build import run_build


def train(
    doc: Path = typer.Argument(..., help="The .dlm document."),
    adapter: str = typer.Option(None, "--adapter", "-a", help="Train only this adapter."),
    explain: bool = typer.Option(False, "--explain", help="Say which input changed for every target that runs."),
    no_replay: bool = typer.Option(False, "--no-replay", help="Do not replay earlier section versions."),
    no_wait: bool = typer.Option(False, "--no-wait", help="Fail at once if another build holds the store."),
    gpus: int = typer.Option(1, "--gpus", min=1, max=64, help="Data-parallel training on N CUDA devices."),
) -> None:
    """Train the document's adapters (what changed since the last build)."""
    target = f":train-{adapter}" if adapter else ":train"
    code = run_build(doc, [target], explain=explain, no_wait=no_wait, replay=not no_replay, gpus=gpus)
    if code:
        raise typer.Exit(code)
