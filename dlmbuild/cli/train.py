"""``dlm train DOC``: ``dlm build DOC :train`` (or ``:train-NAME`` with ``--adapter``).

``dlm train DIR --base KEY [--include G] [--exclude G] [--name N] [--force]`` first writes (or
reuses) ``DIR/.dlm/NAME.dlm``, a document whose sources are the folder (folder_document.py),
then trains it the same way. ``--watch`` is ``dlm build DOC :train --watch``.
"""

from __future__ import annotations

from pathlib import Path

import typer

from dlmbuild.cli.build import run_build


def train(
    doc: Path = typer.Argument(..., help="The .dlm document, or a folder to train on (see --base)."),
    adapter: str = typer.Option(None, "--adapter", "-a", help="Train only this adapter."),
    explain: bool = typer.Option(False, "--explain", help="Say which input changed for every target that runs."),
    no_replay: bool = typer.Option(False, "--no-replay", help="Do not replay earlier section versions."),
    no_wait: bool = typer.Option(False, "--no-wait", help="Fail at once if another build holds the store."),
    gpus: int = typer.Option(1, "--gpus", min=1, max=64, help="Data-parallel training on N CUDA devices."),
    watch: bool = typer.Option(False, "--watch", help="Retrain whenever the document or its sources change."),
    base: str = typer.Option(None, "--base", help="Folder only: the base model of DIR/.dlm/NAME.dlm (required to create it)."),
    include: list[str] = typer.Option(None, "--include", help="Folder only: files to train on (gitignore-style, repeatable)."),
    exclude: list[str] = typer.Option(None, "--exclude", help="Folder only: files to leave out (gitignore-style, repeatable)."),
    name: str = typer.Option(None, "--name", help="Folder only: the document's name (default: the folder's name)."),
    force: bool = typer.Option(False, "--force", help="Folder only: rewrite DIR/.dlm/NAME.dlm with the options given."),
) -> None:
    """Train the document's adapters (what changed since the last build), or a folder's."""
    folder_options = base is not None or bool(include) or bool(exclude) or name is not None or force
    if folder_options or doc.is_dir():
        from dlmbuild.cli.folder_document import FolderRequest, folder_document

        request = FolderRequest(doc, base, tuple(include or ()), tuple(exclude or ()), name, force)
        doc = folder_document(request, announce=typer.echo)
    target = f":train-{adapter}" if adapter else ":train"
    options = dict(explain=explain, no_wait=no_wait, replay=not no_replay, gpus=gpus)
    if watch:
        from dlmbuild.cli.watch import watch_build  # what `dlm build --watch` calls

        watch_build(doc, [target], **options)
        return
    code = run_build(doc, [target], **options)
    if code:
        raise typer.Exit(code)
