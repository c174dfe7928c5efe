"""Finding a model in the local Hugging Face hub cache, offline, without huggingface_hub.

Layout (what ``hf download`` writes)::

    <cache>/models--Org--Name/refs/<revision>          a file holding a commit hash
    <cache>/models--Org--Name/snapshots/<commit>/...   the files (symlinks into ../../blobs)

The cache folder follows huggingface_hub: ``HF_HUB_CACHE``, else the legacy
``HUGGINGFACE_HUB_CACHE``, else ``$HF_HOME/hub``, else ``$XDG_CACHE_HOME/huggingface/hub``,
else ``~/.cache/huggingface/hub``. Like huggingface_hub offline, a revision is looked up in
``refs/`` first and otherwise taken as a commit name; no other snapshot is ever substituted.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache, from the environment variables huggingface_hub reads
    (``HF_HUB_CACHE``, ``HF_HOME``, ``XDG_CACHE_HOME``), without importing it."""
    value = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if not value:
        hf_home = os.environ.get("HF_HOME")
        if not hf_home:
            xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
            hf_home = os.path.join(xdg, "huggingface")
        value = os.path.join(os.path.expandvars(os.path.expanduser(hf_home)), "hub")
    return Path(os.path.expandvars(os.path.expanduser(value)))


def is_repo_id(value: str) -> bool:
    """Whether ``value`` is an ``org/name`` Hub id (and cannot climb out of the cache with ``..``)."""
    return bool(_REPO_ID.match(value)) and ".." not in value


def repo_folder(repo_id: str, cache: Path | None = None) -> Path:
    """The cache folder of a model repo (``models--org--name``)."""
    cache = hub_cache_dir() if cache is None else cache
    return cache / "--".join(["models", *repo_id.split("/")])


@dataclass(frozen=True)
class Snapshot:
    """A complete snapshot of a repo in the hub cache and the commit it is."""

    path: Path  # snapshots/<commit>
    commit: str


def find_snapshot(repo_id: str, revision: str, cache: Path | None = None) -> Snapshot | None:
    """The cached snapshot for ``revision`` (a ref name such as ``main``, or a commit), or None."""
    folder = repo_folder(repo_id, cache)
    commit = revision
    ref = folder / "refs" / revision
    if ".." not in Path(revision).parts and ref.is_file():
        try:
            commit = ref.read_text(encoding="utf-8").strip()
        except OSError:
            return None
    if not commit or "/" in commit or commit in (".", ".."):
        return None
    snap = folder / "snapshots" / commit
    if not snap.is_dir():
        return None
    return Snapshot(snap, commit)
