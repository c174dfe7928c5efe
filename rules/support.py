"""Helpers shared by rules: the base's and the sections' contributions to keys, and toolchain
versions."""

from __future__ import annotations

from functools import lru_cache

from dlmbuild.util.versions import installed_version


class BaseInputs:
    """Named input hashes that come from the resolved base model.

    A rule lists only the parts of the base its output depends on, so a target that reads the
    tokenizer alone (bundles, tokenize) is not rebuilt when only the weights change.
    """

    def __init__(self, project):
        self.project = project

    def tokenizer(self) -> dict[str, str]:
        """The tokenizer files and the chat template: what decides how text becomes tokens."""
        base = self.project.base()
        return {"base:tokenizer": base.tokenizer_hash, "base:chat_template": base.chat_template_hash}

    def weights(self) -> dict[str, str]:
        """The weights as well as the tokenizer: for targets that run the model (train, merge)."""
        base = self.project.base()
        return {"base:weights": base.weights_hash, **self.tokenizer()}


def routed_section_inputs(project) -> dict[str, str]:
    """Each section's id with the adapters it trains (``section:<id>`` -> ``a,b``): a section
    moved to another adapter changes the key of every target that reads routed rows. Two
    sections with the same id (the same text twice) join their routings with ``;``."""
    named: dict[str, str] = {}
    for section in project.doc.sections:
        name = f"section:{section.id}"
        routed = ",".join(section.adapters)
        named[name] = routed if name not in named else named[name] + f";{routed}"
    return named


@lru_cache(maxsize=None)
def package_version(name: str) -> str:
    """A package's installed version for keys and the lock, ``"absent"`` when not installed.

    Cached: every target's key asks again, and installing packages mid-build is not supported
    (a key must not change between computing it and recording it).
    """
    return installed_version(name) or "absent"


def toolchain_of(*packages: str) -> dict[str, str]:
    """The toolchain part of an action key: dlm's own version and each named package's, so an
    upgrade of a library that changes the output (peft, transformers) rebuilds the target."""
    from dlmbuild import __version__

    return {"dlmbuild": __version__, **{p: package_version(p) for p in packages}}


def machine_of(precision: str):
    """The ``machine`` key component of a target whose arithmetic runs in ``precision`` (the
    document's setting, or ``fp32`` for steps that always compute in float32): this machine's
    class (``train/machine_class.py``), so an adapter trained under bf16 on one CPU and one
    trained in float32 on another are different outputs, each cached under its own key."""

    def machine() -> dict[str, str]:
        from dlmbuild.train.machine_class import current_class

        return current_class(precision).as_dict()

    return machine
