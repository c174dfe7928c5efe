"""Which adapters answer a prompt, and at what weights: ``--adapter``, ``--adapter-mix``, the
only adapter there is, or the learned gate (``training.gate``) when the document has several.

The gate is a build target like any other: routing builds ``:gate`` first (a no-op when it is up
to date, seconds when a section changed) and embeds the prompt with the same llama.cpp code the
gate trained on, in an isolated child, so ``dlm prompt``, ``dlm repl`` and ``dlm serve`` route a
prompt alike.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from dlmbuild.errors import DlmError, UsageError


@dataclass
class GateHandle:
    """A built gate (its folder holds the feature model too) and the routing settings."""

    folder: Path
    routing: object

    def weights(self, text: str) -> dict[str, float]:
        from dlmbuild.gate.embed import embed
        from dlmbuild.gate.feature_model import FEATURES_FILE
        from dlmbuild.gate.router import Gate

        feature = embed(self.folder / FEATURES_FILE, [text], doing="embedding the prompt for the gate")[0]
        return Gate.load(self.folder).route(feature, self.routing)


def fixed_weights(project, adapter: str | None, mix: str | None) -> dict[str, float] | None:
    """The weights the command line fixes (``--adapter``, ``--adapter-mix``, or the only adapter);
    ``None`` when the gate decides. Refuses in one line what it cannot use."""
    from dlmbuild.infer.session import choose_adapter

    names = project.doc.config.training.adapter_names
    if adapter and mix:
        raise UsageError("use --adapter or --adapter-mix, not both")
    if mix:
        from dlmbuild.export.mix import select

        return {item.adapter: item.weight for item in select(names, None, mix)}
    if adapter or len(names) == 1 or not project.doc.config.training.gate.enabled:
        return {choose_adapter(project, adapter): 1.0}
    return None


def open_gate(doc: Path) -> GateHandle:
    """Build ``:gate`` (and ``:gguf-base``) if they are out of date, quietly, and return it."""
    from dlmbuild.cli.build import run_build
    from dlmbuild.gate.router import Routing
    from dlmbuild.project import Project

    print("dlm: routing through the gate (building :gate if it is out of date)", file=sys.stderr, flush=True)
    outputs: dict[str, Path] = {}
    code = run_build(doc, [":gate"], quiet=True, collect=outputs)
    if code or ":gate" not in outputs:
        raise DlmError(f"could not build :gate for routing; run 'dlm build {doc} :gate' to see why", exit_code=code or None)
    gate = Project.open(doc).doc.config.training.gate
    return GateHandle(outputs[":gate"], Routing.from_dict(gate.routing()))


def say_weights(weights: dict[str, float]) -> None:
    """What ``-v`` prints: the adapters that answer and their weights."""
    from dlmbuild.gate.router import describe

    print(f"dlm: adapters: {describe(weights)}", file=sys.stderr, flush=True)
