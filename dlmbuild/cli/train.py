"""``dlm train DOC``: ``dlm build DOC :train`` (or ``:train-NAME`` with ``--adapter``).

``dlm train DIR --base KEY [--include G] [--exclude G] [--name N] [--force]`` first writes (or
reuses) ``DIR/.dlm/NAME.dlm``, a document whose sources are the folder (folder_document.py),
then trains it the same way. ``--watch`` is ``dlm build DOC :train --watch``.
"""

from __future__ import annotations

from pathlib import Path

import typer

from dlmbuild.cli.build import run_build


def phase_targets(doc: Path, phase: str, adapter: str | None, options: dict) -> list[str]:
    """The targets ``--phase`` asks for, refused in one located line (exit 2) before anything
    builds: an unknown phase, an unknown adapter, ``preference`` where there is none."""
    from dlmbuild.errors import UsageError
    from dlmbuild.project import Project
    from dlmbuild.rules.prefer import PHASES, check_phase_request, final_target
    from dlmbuild.util.suggest import did_you_mean

    if phase not in PHASES:
        raise UsageError(f"unknown --phase '{phase}'{did_you_mean(phase, PHASES)}; choose from {', '.join(PHASES)}")
    if phase == "all" and adapter is None:
        return [":train"]
    project = Project.open(doc, options=options)
    names = project.doc.config.training.adapter_names
    if adapter is not None and adapter not in names:
        raise UsageError(f"unknown adapter '{adapter}'{did_you_mean(adapter, names)}; {doc.name} declares: {', '.join(names)}")
    check_phase_request(project, phase, adapter)
    chosen = [adapter] if adapter else names
    if phase == "preference":
        return [f":prefer-{n}" for n in chosen]
    return [final_target(project, n) if phase == "all" else f":train-{n}" for n in chosen]


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
    phase: str = typer.Option("all", "--phase", help="all | sft (supervised only) | preference (DPO/ORPO on top of SFT)."),
    no_mined: bool = typer.Option(False, "--no-mined", help="Preference phase on hand-written triples only."),
) -> None:
    """Train the document's adapters (what changed since the last build), or a folder's."""
    folder_options = base is not None or bool(include) or bool(exclude) or name is not None or force
    if folder_options or doc.is_dir():
        from dlmbuild.cli.folder_document import FolderRequest, folder_document

        request = FolderRequest(doc, base, tuple(include or ()), tuple(exclude or ()), name, force)
        doc = folder_document(request, announce=typer.echo)
    extra = ({"phase": phase} if phase != "all" else {}) | ({"mined": False} if no_mined else {})
    targets = phase_targets(doc, phase, adapter, extra)
    options = dict(explain=explain, no_wait=no_wait, replay=not no_replay, gpus=gpus, **({"options": extra} if extra else {}))
    if watch:
        from dlmbuild.cli.watch import watch_build  # what `dlm build --watch` calls

        watch_build(doc, targets, **options)
        return
    code = run_build(doc, targets, **options)
    if code:
        raise typer.Exit(code)
