"""Opening a configured remote for a command: the name (or the config's default), its store,
the licence rule for base-derived outputs, and the probe that turns a dead remote into a
warning instead of a failed build."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from dlmbuild.engine.remote import GuardedRemote
from dlmbuild.errors import UsageError
from dlmbuild.remote.config import Remote, UserConfig, load


def chosen_remote(name: str | None, config: UserConfig | None = None, *, required: bool = True) -> Remote | None:
    """The remote ``name`` names, else ``cache.remote``; with neither, None (or a refusal when
    ``required``)."""
    config = config or load()
    if name:
        return config.remote(name)
    if config.cache_remote:
        return config.remote(config.cache_remote)
    if required:
        hint = f" (configured: {', '.join(sorted(config.remotes))})" if config.remotes else "; add one with `dlm remote add NAME URL`"
        raise UsageError(f"no remote given: pass --remote NAME or set cache.remote{hint}")
    return None


def open_store(remote: Remote):
    from dlmbuild.remote.objects import RemoteStore

    return RemoteStore(remote.url, remote.options)


def build_remote(name: str | None, upload: bool | None, base_model: str, warn: Callable[[str], None],
                 home: Path | None = None) -> GuardedRemote | None:
    """The shared cache a build consults: ``--remote NAME`` or ``cache.remote``; None when
    neither is set, or (after one warning line) when the remote does not answer."""
    from dlmbuild.bases.registry import redistributable
    from dlmbuild.remote.action_cache import RemoteActionCache
    from dlmbuild.remote.probe import probe
    from dlmbuild.remote.urls import redact, writable

    config = load(home)
    remote = chosen_remote(name, config, required=False)
    if remote is None:
        return None
    upload = config.cache_upload if upload is None else upload
    if upload and not writable(remote.url):
        raise UsageError(f"remote {remote.name} ({redact(remote.url)}) is read-only: it cannot take --remote-upload "
                         f"(or cache.upload)")
    try:
        store = open_store(remote)
        down = probe(store)
    except UsageError:
        raise
    except Exception as exc:  # a backend that cannot even be set up: still only a warning
        from dlmbuild.remote.urls import scrub

        down = scrub(f"{type(exc).__name__}: {exc}")
    if down is not None:
        warn(f"warning: remote {remote.name} does not answer ({down}); building locally")
        return None
    cache = RemoteActionCache(remote.name, store, share_base=redistributable(base_model))
    return GuardedRemote(cache, upload=upload, warn=warn)
