"""``dlm remote add|list|remove``, ``dlm push`` and ``dlm pull``: sharing what a document built
through a remote the user names (see dlmbuild/remote)."""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import typer

from dlmbuild.errors import EXIT_ENVIRONMENT, DlmError, UsageError

remote_app = typer.Typer(help="Name the remotes packs and built targets are shared through.", no_args_is_help=True,
                         add_completion=False)

REMOTE = typer.Option(None, "--remote", "-r", metavar="NAME", help="The remote (default: cache.remote).")


@remote_app.command("add")
def add(
    name: str = typer.Argument(..., help="A short name (team, nas, s3)."),
    url: str = typer.Argument(..., help="A folder, file://..., s3://bucket/prefix, https://... (read-only)."),
    option: list[str] = typer.Option(None, "--option", "-o", metavar="KEY=VALUE",
                                     help="An fsspec storage option (endpoint_url=..., region_name=...); never a secret."),
    default: bool = typer.Option(False, "--default", help="Also make it cache.remote, which `dlm build` consults."),
    upload: bool = typer.Option(False, "--upload", help="With --default: also upload what builds make (cache.upload)."),
    force: bool = typer.Option(False, "--force", help="Replace a remote of the same name."),
) -> None:
    """Add a remote to the user config ($DLM_HOME/config.toml)."""
    from dlmbuild.remote.config import Remote, load, save
    from dlmbuild.remote.urls import check_options, check_url, redact

    if not name.replace("-", "").replace("_", "").isalnum():
        raise UsageError(f"remote names are letters, digits, '-' and '_': {name!r}")
    options = {}
    for item in option or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--option wants KEY=VALUE, got {item!r}")
        options[key.strip()] = value
    url = check_url(url)
    check_options(options)
    if upload and not default:
        raise UsageError("--upload sets cache.upload, which needs --default")
    config = load()
    if name in config.remotes and not force:
        raise UsageError(f"remote '{name}' exists ({redact(config.remotes[name].url)}); pass --force to replace it")
    config.remotes[name] = Remote(name, url, options)
    if default:
        config.cache_remote, config.cache_upload = name, upload
    path = save(config)
    typer.echo(f"dlm: remote {name} -> {redact(url)}{' (default)' if default else ''}; saved in {path}")


@remote_app.command("list")
def list_remotes() -> None:
    """The configured remotes (the default one marked *)."""
    from dlmbuild.remote.config import load
    from dlmbuild.remote.urls import redact

    config = load()
    if not config.remotes:
        typer.echo("no remotes; add one with `dlm remote add NAME URL`")
        return
    for name, remote in sorted(config.remotes.items()):
        mark = "*" if name == config.cache_remote else " "
        extra = f"  ({', '.join(f'{k}={v}' for k, v in sorted(remote.options.items()))})" if remote.options else ""
        upload = "  [upload]" if name == config.cache_remote and config.cache_upload else ""
        typer.echo(f"{mark} {name}  {redact(remote.url)}{extra}{upload}")


@remote_app.command("remove")
def remove(name: str = typer.Argument(..., help="The remote to forget (nothing on it is deleted).")) -> None:
    """Remove a remote from the user config."""
    from dlmbuild.remote.config import load, save

    config = load()
    config.remote(name)  # unknown: one line with 'did you mean'
    del config.remotes[name]
    if config.cache_remote == name:
        config.cache_remote, config.cache_upload = None, False
    save(config)
    typer.echo(f"dlm: removed remote {name}")


@contextlib.contextmanager
def remote_errors(name: str) -> Iterator[None]:
    """A remote that fails mid-command: one line (secrets scrubbed), exit 3."""
    from dlmbuild.engine.remote import RemoteUnavailable
    from dlmbuild.remote.urls import scrub

    try:
        yield
    except (DlmError, KeyboardInterrupt):
        raise
    except RemoteUnavailable as exc:
        raise DlmError(f"remote {name}: {exc}", exit_code=EXIT_ENVIRONMENT) from None
    except Exception as exc:
        raise DlmError(scrub(f"remote {name}: {type(exc).__name__}: {exc}"), exit_code=EXIT_ENVIRONMENT) from None


def open_cache_remote(name: str | None, *, writing: bool, base_model: str | None = None):
    """The chosen remote as a ``RemoteActionCache``, refused at once when it cannot be written
    (``writing``) or does not answer."""
    from dlmbuild.bases.registry import redistributable
    from dlmbuild.remote.action_cache import RemoteActionCache
    from dlmbuild.remote.probe import probe
    from dlmbuild.remote.session import chosen_remote, open_store
    from dlmbuild.remote.urls import redact, writable

    remote = chosen_remote(name)
    if writing and not writable(remote.url):
        raise UsageError(f"remote {remote.name} ({redact(remote.url)}) is read-only: push to a folder, s3:// or another writable URL")
    with remote_errors(remote.name):
        store = open_store(remote)
    down = probe(store)
    if down is not None:
        raise DlmError(f"remote {remote.name} does not answer ({down})", exit_code=EXIT_ENVIRONMENT)
    return RemoteActionCache(remote.name, store, share_base=redistributable(base_model) if base_model else False)


def _base_model(doc: Path) -> str:
    from dlmbuild.project import Project

    return Project.open(doc).doc.config.base_model


def _summary(verb: str, moved, name: str) -> str:
    parts = [f"{len(moved.sent)} target(s) {verb}", f"{len(moved.present)} already there"]
    if moved.withheld:
        parts.append(f"{len(moved.withheld)} kept local (the base's licence does not allow sharing its weights)")
    return f"remote {name}: " + ", ".join(parts)


def push(
    doc: Path = typer.Argument(..., help="The built .dlm document."),
    remote: str = REMOTE,
    entries_only: bool = typer.Option(False, "--entries-only", help="Upload the locked targets' cache entries, not the pack."),
) -> None:
    """Upload DOC's pack and its locked targets' cache entries to a remote."""
    from dlmbuild.remote.transfer import push_document, push_entries

    if not doc.is_file():
        raise UsageError(f"{doc}: no such document")
    cache_remote = open_cache_remote(remote, writing=True, base_model=_base_model(doc))
    with remote_errors(cache_remote.name):
        moved = push_entries(doc, cache_remote) if entries_only else push_document(doc, cache_remote)
    pack = f"; pack {moved.pack_size / 1e6:.1f} MB" if moved.pack_size else ""
    typer.echo(f"dlm: {_summary('uploaded', moved, cache_remote.name)}{pack}")


def pull(
    source: str = typer.Argument(..., metavar="DOC|NAME|URL",
                                 help="A local document (fetch its locked targets), a document name on the remote, or a pack's URL."),
    dest: Path = typer.Argument(None, metavar="DIR", help="Where to unpack a pulled pack (default: the document's name)."),
    remote: str = REMOTE,
    force: bool = typer.Option(False, "--force", help="Unpack into a non-empty folder."),
) -> None:
    """Fetch what a remote has: a local document's built targets, or a whole pack."""
    local = Path(source)
    if local.is_file() and local.suffix == ".dlm":
        if dest is not None:
            raise UsageError("DIR is for pulling a pack; a local document's targets go into its own store")
        _pull_targets(local, remote)
        return
    with tempfile.TemporaryDirectory(prefix="dlm-pull-") as scratch:
        pack = Path(scratch) / "pulled.dlm.pack"
        if "://" in source or source.endswith(".dlm.pack"):
            from dlmbuild.remote.transfer import download_url

            with remote_errors(source.split("://")[0] if "://" in source else "file"):
                download_url(source, pack)
            name = Path(source.rsplit("/", 1)[-1]).name.removesuffix(".dlm.pack")
        else:
            from dlmbuild.remote.transfer import pull_pack

            cache_remote = open_cache_remote(remote, writing=False)
            with remote_errors(cache_remote.name):
                index = pull_pack(cache_remote.store, source, pack)
            name = index["document"].removesuffix(".dlm")
        from dlmbuild.cli.pack import unpack

        unpack(pack, dest or Path(name), force=force)


def _pull_targets(doc: Path, remote: str | None) -> None:
    from dlmbuild.engine.mutex import store_lock
    from dlmbuild.project import Project
    from dlmbuild.remote.transfer import pull_entries

    project = Project.open(doc)
    cache_remote = open_cache_remote(remote, writing=False, base_model=project.doc.config.base_model)
    notify = (lambda m: print(f"dlm: {m}", file=sys.stderr, flush=True))
    with store_lock(project.layout.root, wait=True, notify=notify), remote_errors(cache_remote.name):
        moved = pull_entries(doc, cache_remote)
    typer.echo(f"dlm: {_summary('fetched', moved, cache_remote.name)}; `dlm build {doc}` uses them")
