"""Helpers shared by rules: the base's contribution to keys, and toolchain versions."""

from __future__ import annotations

from functools import lru_cache
from importlib import metadata


class BaseInputs:
    """Named input hashes that come from the resolved base model."""

    def __init__(self, project):
        self.project = project

    def tokenizer(self) -> dict[str, str]:
        base = self.project.base()
        return {"base:tokenizer": base.tokenizer_hash, "base:chat_template": base.chat_template_hash}

    def weights(self) -> dict[str, str]:
        base = self.project.base()
        return {"base:weights": base.weights_hash, **self.tokenizer()}


@lru_cache(maxsize=None)
def package_version(name: str) -> str:
    """A package's installed version, read from metadata (no import)."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "absent"


def toolchain_of(*packages: str) -> dict[str, str]:
    from dlmbuild import __version__

    return {"dlmbuild": __version__, **{p: package_version(p) for p in packages}}
