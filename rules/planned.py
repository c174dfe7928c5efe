"""Targets of capabilities that have not landed yet: they appear in ``dlm graph`` with their
real dependencies and config slices, so users can see the whole pipeline, and refuse to build
with a line saying so. Each moves to its own rule module (train.py, gguf.py, ...) as it lands.
"""

from __future__ import annotations

from dlmbuild.engine.target import Target

NOT_YET = "is not available in this version of dlm yet (the gate and packs land next)"


def _planned(name: str, rule: str, deps: tuple[str, ...], config: dict, heavy: bool, description: str) -> Target:
    return Target(name=name, rule=rule, version=0, action=None, deps=deps, config=config, heavy=heavy,
                  description=description, unavailable=f"{name} {NOT_YET}")


def targets(project) -> list[Target]:
    """``:gate`` (multi-adapter documents with the gate enabled) and ``:pack``, both unavailable:
    the engine refuses a request that needs them before building anything."""
    config = project.doc.config
    training = config.training
    names = training.adapter_names
    out = []
    from dlmbuild.rules.prefer import final_target

    train_targets = [final_target(project, name) for name in names]  # each adapter as users get it
    if training.gate.enabled and len(names) > 1:
        out.append(_planned(":gate", "gate", tuple(train_targets), {"gate": training.gate.model_dump(mode="json")}, True, "train the adapter router"))
    out.append(_planned(":pack", "pack", tuple(train_targets), {}, False, "verifiable .dlm.pack"))
    return out


def aliases(project) -> dict[str, list[str]]:
    """The names users type for groups: ``:train`` (every adapter, through its preference phase
    where it has one), ``:gguf`` (the default
    quant) and ``:export`` (``export.targets``, else Ollama)."""
    config = project.doc.config
    names = config.training.adapter_names
    from dlmbuild.rules.prefer import final_target

    train = [final_target(project, n) for n in names]  # the gate joins ':train' when it lands
    from dlmbuild.rules.bundles import bundle_quant

    exports = [f":export-{kind}" for kind in config.export.targets] or [":export-ollama"]
    return {":train": train, ":gguf": [f":gguf-{bundle_quant(project)}"], ":export": exports}
