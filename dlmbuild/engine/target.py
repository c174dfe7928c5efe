"""Targets: the unit the engine builds.

A rule turns a project into targets; each target declares everything its output depends on:
  - ``deps``: other targets (their *output* hashes enter the key, so a dependency rebuilt to
    identical bytes does not dirty its dependents: early cutoff, as in Bazel);
  - ``config``: the config slice it reads, already extracted (an edit elsewhere dirties nothing);
  - ``inputs``: named content hashes (sections, files, the base), computed lazily;
  - ``toolchain``: the package versions that matter to it;
  - ``machine``: what of the machine decides its bytes (device, resolved precision, instruction
    set: a "machine class"), for targets whose arithmetic differs by machine. Empty for the
    rest, and then left out of the key, so their outputs are shared by every machine.
The engine never looks inside any of these; it only hashes them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class InputsUnavailable(Exception):
    """A target's inputs cannot be known without doing real work first (e.g. the base model is
    not materialized yet). A dry run reports the target dirty with this reason."""


@dataclass
class ActionContext:
    """What an action sees: a temporary folder to write into and its dependencies' outputs."""

    target: Target
    out_dir: Path
    dep_outputs: dict[str, Path]
    project: Any
    cancelled: threading.Event
    log: Callable[[str], None]
    previous_out: Path | None = None  # this target's last committed output, for incremental actions
    key: str = ""  # the action key this output will be stored under

    def check_cancelled(self) -> None:
        """Long actions call this between steps so Ctrl-C and --watch restarts stop them cleanly."""
        if self.cancelled.is_set():
            raise KeyboardInterrupt


@dataclass
class Target:
    name: str  # ':tokenize', ':train-tone'
    rule: str
    version: int
    action: Callable[[ActionContext], None] | None
    deps: tuple[str, ...] = ()
    config: dict[str, Any] = field(default_factory=dict)
    inputs: Callable[[], dict[str, str]] = dict
    toolchain: Callable[[], dict[str, str]] = dict
    machine: Callable[[], dict[str, str]] = dict
    heavy: bool = False
    description: str = ""
    unavailable: str = ""  # why this target cannot be built by this dlm yet ('' = it can)
    # Called with (key, committed output folder) whenever a real build settles on an output,
    # built or cached: how a rule installs it somewhere users look (an adapter's current version).
    publish: Callable[[str, Path], None] | None = None

    @property
    def rule_id(self) -> str:
        return f"{self.rule}@{self.version}"

    @property
    def buildable(self) -> bool:
        """Whether this dlm can build it: it has an action and is not marked unavailable."""
        return self.action is not None and not self.unavailable

    @property
    def why_unavailable(self) -> str:
        """The one line that says why it cannot be built ('' when it can)."""
        if self.buildable:
            return ""
        return self.unavailable or f"{self.name} has no action (a rule bug)"
