"""``$DLM_HOME`` (default ``~/.dlm``): the one fact the no-op check and the build server's client
need before anything else, kept apart from ``layout`` so that they do not import dataclasses
(12 ms of a 60 ms ``dlm build`` answered by the stamp or the server)."""

from __future__ import annotations

import os
from pathlib import Path


def dlm_home() -> Path:
    """``$DLM_HOME``, else ``~/.dlm``: the root of every store, the base cache and the server socket."""
    return Path(os.environ.get("DLM_HOME") or Path.home() / ".dlm").expanduser()
