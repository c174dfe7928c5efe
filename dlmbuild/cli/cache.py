"""``dlm cache ls|prune|clear|push|pull``: inspect and trim the action cache and tokenized
cache, and share action entries with a remote (``ls --remote`` lists what a remote holds).

``prune`` and ``clear`` delete entries a running build may be reading or committing, so they
take the store lock a build takes (engine/mutex.py): they wait for a running build to finish,
saying for whom, or with ``--no-wait`` refuse at once (exit 3). ``ls`` only reads entries,
which appear and disappear by atomic renames, so it takes no lock.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import typer

from dlmbuild.engine.actioncache import ActionCache
from dlmbuild.engine.filestate import FileStateCache, journal_path
from dlmbuild.engine.lockfile import read_lock
from dlmbuild.engine.mutex import store_lock
from dlmbuild.engine.state import BuildState
from dlmbuild.errors import UsageError
from dlmbuild.project import Project
from dlmbuild.store.layout import StoreLayout, dlm_home

cache_app = typer.Typer(help="Inspect and trim dlm's caches.", no_args_is_help=True, add_completion=False)


NO_WAIT = typer.Option(False, "--no-wait", help="Fail at once if a build holds the store, instead of waiting.")


@contextlib.contextmanager
def _locked(layout: StoreLayout, no_wait: bool) -> Iterator[None]:
    """Hold the store's build lock, as ``dlm build`` does, with its waiting message."""
    notify = (lambda message: print(f"dlm: {message}", file=sys.stderr, flush=True))
    with store_lock(layout.root, wait=not no_wait, notify=notify):
        yield


def _stores(doc: Path | None) -> list[StoreLayout]:
    """The store of ``doc``, or every store under ``$DLM_HOME`` when no document is given."""
    home = dlm_home()
    if doc is not None:
        return [Project.open(doc).layout]
    root = home / "store"
    return [StoreLayout(home, p.name) for p in sorted(root.iterdir())] if root.exists() else []


def _size(path: Path) -> int:
    """Bytes under ``path``; files that vanish meanwhile (a build pruning) count as zero."""
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total


def _human(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


@cache_app.command("ls")
def ls(doc: Path = typer.Argument(None, help="Only this document's store."),
       remote: str = typer.Option(None, "--remote", "-r", metavar="NAME", help="List what this remote holds instead.")) -> None:
    """List cached actions and tokenized-section caches."""
    if remote is not None:
        _ls_remote(remote)
        return
    for layout in _stores(doc):
        cache = ActionCache(layout.actions, FileStateCache(None))
        entries = cache.entries()
        typer.echo(f"store {layout.dlm_id}: {len(entries)} action(s), tokens {_human(_size(layout.tokens))}")
        for key, manifest in entries:
            size = _size(cache.entry_dir(key))
            typer.echo(f"  {manifest.get('target', '?'):22} {key[:16]}  {_human(size):>10}")


@cache_app.command("prune")
def prune(doc: Path = typer.Argument(..., help="The .dlm document whose store to prune."), no_wait: bool = NO_WAIT) -> None:
    """Delete action entries that neither dlm.lock nor the last build refers to."""
    layout = Project.open(doc).layout
    with _locked(layout, no_wait):  # the last build's records and the entries cannot move under us
        keep = {r.get("key") for r in BuildState(layout.targets_state).records.values()}
        lock = read_lock(doc)
        if lock is not None:
            keep |= lock.all_keys()
        cache = ActionCache(layout.actions, FileStateCache(None))
        removed = freed = 0
        for key, _manifest in cache.entries():
            if key not in keep:
                freed += _size(cache.entry_dir(key))
                cache.discard(key)
                removed += 1
    typer.echo(f"pruned {removed} action(s), freed {_human(freed)}; kept {len(keep & {k for k, _ in cache.entries()})}")


@cache_app.command("clear")
def clear(doc: Path = typer.Argument(None, help="Only this document's store."), no_wait: bool = NO_WAIT) -> None:
    """Delete all cached actions and tokenized sections (the base cache is kept)."""
    for layout in _stores(doc):
        with _locked(layout, no_wait):
            freed = _size(layout.actions) + _size(layout.tokens)
            shutil.rmtree(layout.actions, ignore_errors=True)
            shutil.rmtree(layout.tokens, ignore_errors=True)
            for state in (layout.filestate, journal_path(layout.filestate), layout.targets_state):
                state.unlink(missing_ok=True)
        typer.echo(f"cleared store {layout.dlm_id}: freed {_human(freed)}")


def _ls_remote(name: str) -> None:
    from dlmbuild.cli.remote import open_cache_remote, remote_errors

    cache_remote = open_cache_remote(name, writing=False)
    with remote_errors(cache_remote.name):
        entries = cache_remote.store.list_entries()
    typer.echo(f"remote {cache_remote.name}: {len(entries)} action(s)")
    for entry in entries:
        files = entry.get("files") if isinstance(entry.get("files"), dict) else {}
        size = sum(row.get("size", 0) for row in files.values() if isinstance(row, dict))
        target = "(corrupt entry)" if entry.get("corrupt") else entry.get("target", "?")
        typer.echo(f"  {target:22} {str(entry.get('key', '?'))[:16]}  {_human(size):>10}")


@cache_app.command("push")
def push(doc: Path = typer.Argument(..., help="The built .dlm document."),
         remote: str = typer.Option(None, "--remote", "-r", metavar="NAME", help="The remote (default: cache.remote).")) -> None:
    """Upload the action entries of DOC's locked targets (no pack; `dlm push` sends both)."""
    from dlmbuild.cli.remote import push as push_command

    push_command(doc, remote, entries_only=True)


@cache_app.command("pull")
def pull(doc: Path = typer.Argument(..., help="The .dlm document (with its dlm.lock)."),
         remote: str = typer.Option(None, "--remote", "-r", metavar="NAME", help="The remote (default: cache.remote).")) -> None:
    """Fetch the action entries of DOC's locked targets that this store lacks."""
    from dlmbuild.cli.remote import pull as pull_command

    if not doc.is_file():
        raise UsageError(f"{doc}: no such document")
    pull_command(str(doc), None, remote, False)
