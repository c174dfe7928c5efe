"""``dlm init PATH``: write a valid scaffold with a fresh ULID, never over an existing file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import typer
from ulid import ULID

from dlmbuild.bases.registry import DEFAULT_BASE
from dlmbuild.cli.scaffolds import DEFAULT_SCAFFOLD, check_scaffold, render_scaffold, scaffold_names
from dlmbuild.document.parse import parse_bytes
from dlmbuild.errors import EnvironmentProblem, Location, UsageError


def init(
    path: Path = typer.Argument(..., help="Where to write the new .dlm document."),
    base: str = typer.Option(DEFAULT_BASE, "--base", help="Base model: a registry key, hf:org/name, or a local path."),
    template: str = typer.Option(DEFAULT_SCAFFOLD, "--template",
                                 help=f"Scaffold to start from: {', '.join(scaffold_names())} (see `dlm templates`)."),
) -> None:
    """Create a new .dlm document."""
    check_scaffold(template)
    if path.exists():
        raise UsageError("already exists; dlm init never overwrites (choose another path)", Location(path))
    text = render_scaffold(template, base, str(ULID()))
    parse_bytes(path, text.encode("utf-8"))  # the scaffold must be valid for this base
    create_exclusive(path, text.encode("utf-8"))
    typer.echo(f"wrote {path} ({template} template, base {base})")
    typer.echo(f"next: edit it, then `dlm show {path}`")


def create_exclusive(path: Path, data: bytes) -> None:
    """Write ``data`` to a temp file, then hard-link it into place: fails if ``path`` appeared
    meanwhile, and never exposes a partial file."""
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError("folder does not exist", Location(parent))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(tmp, path)
    except FileExistsError:
        raise UsageError("already exists; dlm init never overwrites", Location(path)) from None
    except OSError as exc:
        raise EnvironmentProblem(f"cannot write: {exc.strerror}", Location(path)) from None
    finally:
        os.unlink(tmp)
