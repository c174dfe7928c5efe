"""``:gate``: the learned router of a multi-adapter document (see ``dlmbuild.gate``).

It depends on the routed rows and the base, never on the adapters' weights: its inputs are each
section's id with its routing and each source file's content hash (as ``:tokenize``'s are), its
one dependency is ``:gguf-base`` (the embeddings' model), and its key holds only the settings
that change training (``training.gate.training_slice``) and the seed. Retraining an adapter, or
changing how the gate's output is used (temperature, top-k, fallback), leaves it cached.

It joins ``:train`` when ``training.gate.enabled`` is true on a document with two or more
adapters; with the gate off it stays in the graph and refuses in one line, naming the setting.
"""

from __future__ import annotations

from dlmbuild.engine.target import ActionContext, Target
from dlmbuild.errors import DocumentError
from dlmbuild.export.toolchain import pin_key
from dlmbuild.gate.feature_model import FEATURE_LAYERS
from dlmbuild.rules.support import machine_of, routed_section_inputs, toolchain_of

NAME = ":gate"
VERSION = 1
OFF = ":gate is off for this document: set training.gate.enabled: true (it needs two or more adapters)"


def enabled(project) -> bool:
    training = project.doc.config.training
    return training.gate.enabled and len(training.adapter_names) > 1


def targets(project) -> list[Target]:
    training = project.doc.config.training

    def inputs() -> dict[str, str]:
        from dlmbuild.document.sources import source_adapters

        named = routed_section_inputs(project)

        names = training.adapter_names
        for file in project.sources.files if training.sources else ():  # by path: two equal files may route apart
            named[f"file:{file.relpath}"] = f"{project.source_hashes[file.relpath]}:{','.join(source_adapters(file, names))}"
        return named

    return [Target(
        name=NAME, rule="gate", version=VERSION, action=build_gate if enabled(project) else None, deps=(":gguf-base",),
        config={"gate": training.gate.training_slice(), "seed": training.seed, "adapters": training.adapter_names,
                "feature_layers": FEATURE_LAYERS},
        inputs=inputs, toolchain=lambda: pin_key() | toolchain_of("torch", "safetensors", "numpy"), heavy=True,
        machine=machine_of("fp32"),  # the base's features come from llama.cpp's CPU kernels
        description="train the adapter router", unavailable="" if enabled(project) else OFF,
    )]


def sections(project) -> list:
    """The body's sections, then each readable source file as a prose section."""
    from dlmbuild.document.sources import read_source_section

    names = tuple(project.doc.config.training.adapter_names)
    out = list(project.doc.sections)
    if project.doc.config.training.sources:
        out += [s for s in (read_source_section(f, names) for f in project.sources.files) if s is not None]
    return out


def build_gate(ctx: ActionContext) -> None:
    import numpy as np

    from dlmbuild.gate.embed import FEATURE_KIND, embed
    from dlmbuild.gate.feature_model import FEATURES_FILE, write_feature_model
    from dlmbuild.gate.fit import fit
    from dlmbuild.gate.router import save
    from dlmbuild.gate.rows import gate_rows, rows_by_adapter

    project = ctx.project
    training = project.doc.config.training
    names = training.adapter_names
    rows = gate_rows(sections(project))
    counts = rows_by_adapter(rows, names)
    empty = [name for name, count in counts.items() if count == 0]
    if empty:
        raise DocumentError(f"the gate cannot learn adapter '{empty[0]}': no section or source routes any text to it")
    kept = write_feature_model(ctx.dep_outputs[":gguf-base"] / "base.F16.gguf", ctx.out_dir / FEATURES_FILE)
    ctx.log(f":gate: embedding {len(rows)} rows with the base's first {kept} blocks "
            f"({', '.join(f'{n} {c}' for n, c in counts.items())})")
    features = np.asarray(embed(ctx.out_dir / FEATURES_FILE, [r.text for r in rows],
                                doing="embedding the gate's rows", cancel=ctx.cancelled), dtype=np.float32)
    gate = training.gate
    weights, report = fit(features, [r.adapters for r in rows], names, hidden_size=gate.hidden_size, steps=gate.steps,
                          learning_rate=gate.learning_rate, seed=training.seed)
    save(ctx.out_dir, names, weights, {
        "feature": FEATURE_KIND, "feature_layers": kept, "dim": int(features.shape[1]), "hidden_size": gate.hidden_size, "steps": gate.steps,
        "rows": counts, "held_in_accuracy": round(report.held_in_accuracy, 4), "loss": round(report.loss, 6),
    })
    ctx.log(f":gate: held-in accuracy {report.held_in_accuracy:.1%} on {report.rows} rows, loss {report.loss:.4f}")
