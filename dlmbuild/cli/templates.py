"""``dlm templates [show NAME]``: the scaffolds ``dlm init --template`` can start from."""

from __future__ import annotations

import typer

from dlmbuild.cli.scaffolds import SCAFFOLDS, render_scaffold

templates_app = typer.Typer(help="List the scaffolds dlm init can write, or print one.", invoke_without_command=True,
                            add_completion=False)


@templates_app.callback()
def templates(ctx: typer.Context) -> None:
    """List the scaffolds (name and what it holds); `dlm templates show NAME` prints one."""
    if ctx.invoked_subcommand is not None:
        return
    width = max(map(len, SCAFFOLDS))
    for name, description in SCAFFOLDS.items():
        typer.echo(f"{name:<{width}}  {description}")


@templates_app.command("show")
def show(name: str = typer.Argument(..., help="The scaffold to print.")) -> None:
    """Print a scaffold as `dlm init` would write it (its default base, a fresh dlm_id): a valid
    document, so `dlm templates show tutor > notes.dlm` works too (a media scaffold's example
    file comes with `dlm init --multimodal` / `--audio`)."""
    from ulid import ULID

    from dlmbuild.bases.registry import DEFAULT_BASE
    from dlmbuild.cli.scaffolds import SCAFFOLD_BASE

    typer.echo(render_scaffold(name, SCAFFOLD_BASE.get(name, DEFAULT_BASE), str(ULID())), nl=False)
