"""The ``dlm`` program: registers one module per command and turns DlmErrors into one line.

Nothing here imports torch; commands that need a model import it inside their own function.
"""

from __future__ import annotations

import sys

import typer

from dlmbuild.cli import build as build_cmd
from dlmbuild.cli import graph as graph_cmd
from dlmbuild.cli import init as init_cmd
from dlmbuild.cli import verify as verify_cmd
from dlmbuild.cli.cache import cache_app
from dlmbuild.cli import migrate as migrate_cmd
from dlmbuild.cli import show as show_cmd
from dlmbuild.errors import DlmError

app = typer.Typer(
    name="dlm",
    help="Build language models from documents: parse, train, export, verify. Everything stays local.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

COMMANDS = [
    ("init", init_cmd.init),
    ("show", show_cmd.show),
    ("migrate", migrate_cmd.migrate),
    ("build", build_cmd.build),
    ("graph", graph_cmd.graph),
    ("verify", verify_cmd.verify),
]
for name, function in COMMANDS:
    app.command(name)(function)
app.add_typer(cache_app, name="cache")


def main() -> None:
    try:
        app()
    except DlmError as exc:
        print(f"dlm: {exc}" if exc.location is None else str(exc), file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("dlm: interrupted", file=sys.stderr)
        sys.exit(130)
