"""``dlm init PATH``: write a valid scaffold with a fresh ULID, never over an existing file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import typer
from ulid import ULID

from dlmbuild.bases.registry import DEFAULT_BASE
from dlmbuild.cli.scaffolds import DEFAULT_SCAFFOLD, SCAFFOLD_BASE, check_scaffold, render_scaffold, scaffold_media, scaffold_names
from dlmbuild.document.parse import parse_bytes
from dlmbuild.errors import DlmError, EnvironmentProblem, Location, UsageError


def init(
    path: Path = typer.Argument(..., help="Where to write the new .dlm document."),
    base: str = typer.Option(None, "--base", help=f"Base model: a registry key, hf:org/name, or a local path (default {DEFAULT_BASE}; "
                                                   f"{SCAFFOLD_BASE['multimodal']} with --multimodal, {SCAFFOLD_BASE['audio']} with --audio)."),
    template: str = typer.Option(None, "--template",
                                 help=f"Scaffold to start from: {', '.join(scaffold_names())} (see `dlm templates`)."),
    multimodal: bool = typer.Option(False, "--multimodal", help="A vision-language scaffold (--template multimodal) with an example image."),
    audio: bool = typer.Option(False, "--audio", help="A speech scaffold (--template audio) with an example clip."),
) -> None:
    """Create a new .dlm document."""
    chosen = [name for name, on in (("multimodal", multimodal), ("audio", audio)) if on] + ([template] if template else [])
    if len(set(chosen)) > 1:
        raise UsageError(f"choose one scaffold, not {' and '.join(dict.fromkeys(chosen))}")
    template = check_scaffold(chosen[0] if chosen else DEFAULT_SCAFFOLD)
    base = base or SCAFFOLD_BASE.get(template, DEFAULT_BASE)
    if path.exists():
        raise UsageError("already exists; dlm init never overwrites (choose another path)", Location(path))
    media = scaffold_media(template)
    for rel in media:
        if (path.parent / rel).exists():
            raise UsageError(f"already exists; dlm init never overwrites (the {template} scaffold writes it)", Location(path.parent / rel))
    text = render_scaffold(template, base, str(ULID()))
    _check_scaffold(path, text, media)
    for rel, data in media.items():
        (path.parent / rel).parent.mkdir(parents=True, exist_ok=True)
        create_exclusive(path.parent / rel, data)
    create_exclusive(path, text.encode("utf-8"))
    typer.echo(f"wrote {path} ({template} template, base {base})" + (f" and {', '.join(media)}" if media else ""))
    typer.echo(f"next: edit it, then `dlm show {path}`")


def _check_scaffold(path: Path, text: str, media: dict[str, bytes]) -> None:
    """The scaffold must parse for this base, its media included: checked in a scratch folder
    before anything is written next to the user's files."""
    with tempfile.TemporaryDirectory(prefix=".dlm-init-") as scratch:
        for rel, data in media.items():
            (Path(scratch) / rel).parent.mkdir(parents=True, exist_ok=True)
            (Path(scratch) / rel).write_bytes(data)
        try:
            parse_bytes(Path(scratch) / path.name, text.encode("utf-8"))
        except DlmError as exc:
            if exc.location is not None:
                exc.location.path = path  # where it would have been written, not the scratch copy
            raise


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
