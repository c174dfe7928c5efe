"""What the engine asks of a shared (remote) action cache, and how it survives one that fails.

The engine knows nothing about URLs, fsspec or credentials: a build gets an object with
``fetch`` and ``upload`` (dlmbuild/remote implements them) and consults it on a local miss, as
Bazel consults ``--remote_cache``. A remote is an optimisation, never a dependency, so
``GuardedRemote`` turns every failure into one warning line and a local build:

- unreachable or slow (any error that is not about one object): warn once, stop asking it for
  the rest of the build;
- a corrupt or tampered object (``RemoteObjectRefused``): warn for that target and build it
  locally; the local store is left as it was.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Protocol

from dlmbuild.engine.actioncache import ActionCache, CachedOutputs
from dlmbuild.engine.target import Target
from dlmbuild.util.text import one_line


class RemoteObjectRefused(Exception):
    """One remote object failed its checks (sha256, size, manifest): refused, nothing stored."""


class RemoteUnavailable(Exception):
    """The remote did not answer, or answered with an error; its message is safe to show."""


class RemoteCache(Protocol):
    name: str

    def shares(self, target: Target) -> bool:
        """Whether this target's outputs may travel to and from this remote at all."""

    def contains(self, key: str) -> bool:
        """Whether the remote holds an entry for ``key`` (a dry run's question)."""

    def fetch(self, key: str, target: Target, cache: ActionCache) -> CachedOutputs | None:
        """Download, verify and commit ``key``'s entry into ``cache``; None when the remote has none."""

    def upload(self, key: str, target: Target, cache: ActionCache) -> bool:
        """Upload ``key``'s local entry unless the remote has it; True when something was sent."""


class GuardedRemote:
    """A ``RemoteCache`` whose failures become warnings: the build goes on locally."""

    def __init__(self, remote: RemoteCache, upload: bool, warn: Callable[[str], None]):
        self.remote = remote
        self.name = remote.name
        self.upload_enabled = upload
        self.warn = warn
        self._down = False
        self._lock = threading.Lock()
        self.fetched: list[str] = []
        self.uploaded: list[str] = []

    def _failed(self, exc: BaseException, doing: str) -> None:
        if os.environ.get("DLM_DEBUG"):
            raise exc
        with self._lock:
            if self._down:
                return
            self._down = True
        why = one_line(str(exc)) if isinstance(exc, RemoteUnavailable) else f"{type(exc).__name__}: {one_line(str(exc))}"
        self.warn(f"warning: remote {self.name} failed while {doing} ({why}); building locally without it")

    def contains(self, key: str, target: Target) -> bool:
        if self._down or not self.remote.shares(target):
            return False
        try:
            return self.remote.contains(key)
        except Exception as exc:
            self._failed(exc, f"looking up {target.name}")
            return False

    def fetch(self, key: str, target: Target, cache: ActionCache) -> CachedOutputs | None:
        if self._down or not self.remote.shares(target):
            return None
        try:
            hit = self.remote.fetch(key, target, cache)
        except RemoteObjectRefused as exc:
            self.warn(f"warning: remote {self.name}: refused {target.name}'s entry ({one_line(str(exc))}); building it locally")
            return None
        except Exception as exc:
            self._failed(exc, f"fetching {target.name}")
            return None
        if hit is not None:
            with self._lock:
                self.fetched.append(target.name)
        return hit

    def after_build(self, key: str, target: Target, cache: ActionCache) -> None:
        if not self.upload_enabled or self._down or not self.remote.shares(target):
            return
        try:
            if self.remote.upload(key, target, cache):
                with self._lock:
                    self.uploaded.append(target.name)
        except Exception as exc:
            self._failed(exc, f"uploading {target.name}")
