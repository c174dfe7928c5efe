"""Installed package versions, read from distribution metadata.

The one way dlm asks "which version of X is installed?": toolchain components that go into
action keys, the lock, ``dlm doctor``, the llama.cpp pin check and the embedded base's
provenance all read it here. Metadata is read without importing the package, so asking about
torch costs a file read, not seconds of import.

Uncached on purpose: ``dlm`` installs the llama.cpp toolchain in-process and then checks it
again, so an answer may change within one process. Callers that ask per target (action keys)
cache on their side.
"""

from __future__ import annotations

from importlib import metadata


def installed_version(package: str) -> str | None:
    """The installed version of distribution ``package`` (e.g. ``"torch"``), or ``None`` when it
    is not installed."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None
