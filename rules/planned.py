"""The aliases users type (``:train``, ``:gguf``, ``:export``), and targets of capabilities
that have not landed yet (``:pack``): those appear in ``dlm graph`` with their real
dependencies, and refuse to build with a line saying so. Each moves to its own rule module
(train.py, gguf.py, ...) as it lands.
"""

from __future__ import annotations

from dlmbuild.engine.target import Target

NOT_YET = "is not available as a build target yet: write a pack with `dlm pack DOC`"


def _planned(name: str, rule: str, deps: tuple[str, ...], config: dict, heavy: bool, description: str) -> Target:
    return Target(name=name, rule=rule, version=0, action=None, deps=deps, config=config, heavy=heavy,
                  description=description, unavailable=f"{name} {NOT_YET}")


def targets(project) -> list[Target]:
    """``:pack``, unavailable: the engine refuses a request that needs it before building anything."""
    from dlmbuild.rules.prefer import final_target

    train_targets = [final_target(project, name) for name in project.doc.config.training.adapter_names]
    return [_planned(":pack", "pack", tuple(train_targets), {}, False, "verifiable .dlm.pack")]


def aliases(project) -> dict[str, list[str]]:
    """The names users type for groups: ``:train`` (every adapter, through its preference phase
    where it has one, and the gate when it is on), ``:gguf`` (the default
    quant) and ``:export`` (``export.targets``, else Ollama)."""
    config = project.doc.config
    names = config.training.adapter_names
    from dlmbuild.rules.prefer import final_target

    from dlmbuild.rules.gate import NAME as GATE, enabled

    train = [final_target(project, n) for n in names] + ([GATE] if enabled(project) else [])
    from dlmbuild.rules.bundles import bundle_quant

    exports = [f":export-{kind}" for kind in config.export.targets] or [":export-ollama"]
    return {":train": train, ":gguf": [f":gguf-{bundle_quant(project)}"], ":export": exports}
