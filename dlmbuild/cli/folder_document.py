"""The document ``dlm train DIR`` trains a folder with: ``DIR/.dlm/NAME.dlm``.

It holds a fresh ``dlm_id``, the base and one ``training.sources`` entry for the folder. Seen
from ``DIR/.dlm/`` the folder is ``..``, which leaves the document's folder, so the document
says ``sources_policy: permissive``. The walk never enters ``.dlm`` folders (format.md §7.1),
so the document, its ``dlm.lock`` and a store under ``~/.dlm`` are never ingested; a store
elsewhere inside the folder (``DLM_HOME=DIR/cache``) gets an anchored exclude.

The rule for an existing file: options that agree with it (or none at all) reuse it, so a
second ``dlm train DIR`` just builds again; an option that would change it is refused unless
``--force``, which rewrites it atomically and keeps its ``dlm_id`` (and so its store: adapter
versions and caches carry over; only what the change touches rebuilds).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from dlmbuild.errors import DlmError, Location, UsageError

FOLDER_ENTRY = ".."  # the folder, seen from DIR/.dlm/
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
NEVER_WALKED = frozenset({".git", ".hg", ".svn", ".dlm"})  # format.md §7.1


@dataclass(frozen=True)
class FolderRequest:
    """What the command line asked for; ``None``/empty means "not given"."""

    folder: Path
    base: str | None = None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    name: str | None = None
    force: bool = False


def safe_name(folder: Path) -> str:
    """A document name from a folder name: runs of other characters become '-'."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(os.path.abspath(folder)).name).strip("-.")
    return name or "project"


def document_path(request: FolderRequest) -> Path:
    """``DIR/.dlm/NAME.dlm``, after checking the folder and the name."""
    folder = request.folder
    if not folder.exists():
        raise UsageError("folder does not exist", Location(folder))
    if not folder.is_dir():
        raise UsageError("--base, --include, --exclude, --name and --force apply to a folder; this is a file", Location(folder))
    name = request.name if request.name is not None else safe_name(folder)
    if not SAFE_NAME.fullmatch(name):
        raise UsageError(f"--name '{name}': use letters, digits, '.', '_' and '-' (starting with a letter or digit)")
    return folder / ".dlm" / f"{name}.dlm"


def check_globs(option: str, patterns: tuple[str, ...]) -> None:
    """Refuse a pattern the walk could not compile, before anything is written."""
    import pathspec

    for pattern in patterns:
        try:
            if not pattern.strip():
                raise ValueError
            pathspec.PathSpec.from_lines("gitignore", [pattern])
        except ValueError:  # pathspec's pattern errors are ValueErrors
            raise UsageError(f"{option} '{pattern}': not a valid gitignore-style pattern") from None


def document_base(base: str, doc_dir: Path) -> str:
    """``base`` as the document must write it: a relative folder given on the command line is
    relative to the current folder, but in the document it is relative to the document's."""
    from dlmbuild.bases.registry import is_path_reference

    if not is_path_reference(base) or base.startswith(("/", "~")):
        return base
    rel = os.path.relpath(os.path.abspath(base), os.path.abspath(doc_dir))
    return rel if rel.startswith("..") else f"./{rel}"


def store_excludes(folder: Path) -> list[str]:
    """An anchored exclude for the dlm store when it lies inside the folder where the walk
    would enter it (a store under a ``.dlm`` or ``.git`` folder is never walked anyway)."""
    from dlmbuild.store.home import dlm_home

    home = Path(os.path.realpath(dlm_home()))
    root = Path(os.path.realpath(folder))
    if home == root or root not in home.parents:
        return []
    rel = home.relative_to(root)
    if NEVER_WALKED.intersection(rel.parts):
        return []
    return [f"/{rel.as_posix()}/"]


def render(dlm_id: str, base: str, include: tuple[str, ...], exclude: list[str]) -> str:
    """The document's text. Strings are written as JSON, which YAML reads as quoted scalars."""
    lines = [
        "---",
        "# Written by `dlm train DIR`: it trains on the files of the folder above this .dlm/ folder.",
        "# Edit it freely; `dlm train DIR` reuses it, and `dlm train DIR --force ...` rewrites it.",
        f"dlm_id: {dlm_id}",
        "dlm_version: 2",
        f"base_model: {json.dumps(base)}",
        "training:",
        "  sources_policy: permissive  # the folder is '..' from here, outside this .dlm/ folder",
        "  sources:",
        f"    - path: {json.dumps(FOLDER_ENTRY)}",
    ]
    if include:
        lines.append(f"      include: {json.dumps(list(include))}")
    if exclude:
        lines.append(f"      exclude: {json.dumps(exclude)}")
    return "\n".join(lines + ["---", ""])


def _existing(path: Path):
    """The document already at ``path`` parsed, or None when it is not readable as one."""
    from dlmbuild.document.parse import parse_document

    try:
        return parse_document(path)
    except DlmError:
        return None


def _differences(path: Path, request: FolderRequest, base: str | None, exclude: list[str]) -> list[str]:
    """The given options that disagree with the document at ``path`` (which must parse)."""
    from dlmbuild.document.parse import parse_document

    config = parse_document(path).config
    entry = next((s for s in config.training.sources if s.path.rstrip("/") == FOLDER_ENTRY), None)
    changed = []
    if base is not None and base != config.base_model:
        changed.append(f"--base (it has {config.base_model})")
    if request.include and (entry is None or list(request.include) != list(entry.include)):
        changed.append("--include")
    if request.exclude and (entry is None or exclude != list(entry.exclude)):
        changed.append("--exclude")
    return changed


def folder_document(request: FolderRequest, announce=print) -> Path:
    """The document to build for ``request.folder``: reused, written, or rewritten (``--force``)
    as the module docstring says. ``announce`` receives one line saying which."""
    from ulid import ULID

    from dlmbuild.document.parse import parse_bytes
    from dlmbuild.store.atomic import atomic_write_bytes

    path = document_path(request)
    check_globs("--include", request.include)
    check_globs("--exclude", request.exclude)
    base = None if request.base is None else document_base(request.base, path.parent)
    exclude = list(request.exclude) + store_excludes(request.folder) if request.exclude else store_excludes(request.folder)
    old = None
    existed = path.exists()
    if existed:
        if not request.force:
            changed = _differences(path, request, base, exclude)
            if changed:
                raise UsageError(f"already exists and {', '.join(changed)} would change it; "
                                 "run with --force to rewrite it, or without those options to reuse it", Location(path))
            announce(f"using {path}")
            return path
        old = _existing(path)
    if base is None:
        if old is None:
            raise UsageError(f"--base is required to create {path} (a registry key such as smollm2-135m, hf:org/name, or a local folder)")
        base = old.config.base_model
    text = render(old.config.dlm_id if old else str(ULID()), base, request.include, exclude)
    parse_bytes(path, text.encode("utf-8"))  # a bad base is refused before anything is written
    atomic_write_bytes(path, text.encode("utf-8"), mode=None if old else 0o644)
    announce(f"{'rewrote' if existed else 'wrote'} {path} (base {base})")
    return path
