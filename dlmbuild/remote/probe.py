"""Whether a remote answers, within a deadline: a down or hanging remote costs a build seconds,
not minutes. The probe runs in a daemon thread so a connection that never answers is simply
abandoned."""

from __future__ import annotations

import os
import threading

from dlmbuild.remote.urls import scrub

DEFAULT_TIMEOUT = 10.0


def timeout() -> float:
    """``$DLM_REMOTE_TIMEOUT`` seconds, else 10."""
    try:
        return max(0.1, float(os.environ.get("DLM_REMOTE_TIMEOUT", DEFAULT_TIMEOUT)))
    except ValueError:
        return DEFAULT_TIMEOUT


def probe(store, seconds: float | None = None) -> str | None:
    """None when ``store`` answers in time, else a short reason (secrets scrubbed)."""
    seconds = timeout() if seconds is None else seconds
    outcome: list[BaseException | None] = []

    def ask() -> None:
        try:
            store.ping()
            outcome.append(None)
        except BaseException as exc:  # reported, not raised: the caller decides
            outcome.append(exc)

    thread = threading.Thread(target=ask, name="dlm-remote-probe", daemon=True)
    thread.start()
    thread.join(seconds)
    if not outcome:
        return f"no answer within {seconds:g}s"
    exc = outcome[0]
    return None if exc is None else scrub(f"{type(exc).__name__}: {exc}")
