"""Each configured remote and whether it answers now: what ``dlm doctor`` shows. A remote that
does not answer is reported, not refused: builds degrade to local ones."""

from __future__ import annotations

from pathlib import Path

DOCTOR_TIMEOUT = 5.0


def remotes_report(home: Path) -> list[dict]:
    from dlmbuild.errors import DlmError
    from dlmbuild.remote.config import load
    from dlmbuild.remote.probe import probe, timeout
    from dlmbuild.remote.session import open_store
    from dlmbuild.remote.urls import redact, scrub, writable

    try:
        config = load(home)
    except DlmError as exc:
        return [{"name": "(config)", "url": "", "answers": False, "reason": str(exc)}]
    rows = []
    for name, remote in sorted(config.remotes.items()):
        row = {"name": name, "url": redact(remote.url), "default": name == config.cache_remote,
               "upload": name == config.cache_remote and config.cache_upload, "writable": writable(remote.url)}
        try:
            reason = probe(open_store(remote), min(timeout(), DOCTOR_TIMEOUT))
        except Exception as exc:
            reason = scrub(f"{type(exc).__name__}: {exc}")
        rows.append(row | {"answers": reason is None, "reason": reason})
    return rows
