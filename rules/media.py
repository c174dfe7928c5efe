"""Media sections against the base that is to train on them.

An ``::image::`` section needs a base that reads images, an ``::audio::`` section one that reads
clips: training only their alt text or transcript on a text base would ignore the pixels and
samples the author wrote the section for, so the document is refused at the first such
section, before any target runs, naming bases that would take it.
"""

from __future__ import annotations

from dlmbuild.bases.modality import READS_AUDIO, READS_IMAGES, SPEECH, VISION, modality_of, suggestion
from dlmbuild.document.sections import SectionType
from dlmbuild.errors import DocumentError, Location

NEEDS = {SectionType.IMAGE: (READS_IMAGES, VISION, "a vision-language base"),
         SectionType.AUDIO: (READS_AUDIO, SPEECH, "a speech or audio-language base")}
READS = {"text": "reads text only", "vision": "reads images and text, not audio",
         "speech": "transcribes speech, it does not read images", "audio": "reads audio and text, not images"}


def base_modality(project) -> str:
    return modality_of(project.doc.config.base_model, project.doc.path.parent)


def check_media_sections(project) -> None:
    """Refuse the first media section the base cannot read, at its fence."""
    modality = None
    for section in project.doc.sections:
        need = NEEDS.get(section.type)
        if need is None:
            continue
        modality = modality or base_modality(project)
        reads, kind, wanted = need
        if modality in reads:
            continue
        base = project.doc.config.base_model
        options = suggestion(kind)
        hint = f" (switch base_model to {options})" if options else ""
        raise DocumentError(f"::{section.type.value}:: needs {wanted}; {base} {READS.get(modality, 'reads text only')}{hint}",
                            Location(project.doc.path, section.line, 1))


SNAPSHOT_VERSION = 2  # 2: says where a vision adapter's GGUF pair comes from


def media_graph(project, modality: str):
    """The targets and aliases of a document on a vision-language or speech base: examples and
    adapters (rules/train_media.py) and ``:export-hf``, an HF snapshot of the adapters with the
    base's processor. On a vision base whose GGUF pair llama.cpp runs (rules/media_gguf.py),
    ``:gguf-media`` and ``:export-ollama`` too. Every other GGUF target and bundle is refused in
    one line that says why, before anything trains."""
    from dlmbuild.engine.target import Target
    from dlmbuild.export.kinds import BUNDLES
    from dlmbuild.export.media_snapshot import no_gguf_reason
    from dlmbuild.rules import media_gguf, train_media

    targets = train_media.targets(project, modality)
    names = project.doc.config.training.adapter_names
    trains = tuple(f":train-{n}" for n in names)
    chosen = project.options.get("adapter")
    snapshot = snapshot_target(project, modality, (f":train-{chosen}",) if chosen in names else trains)
    if chosen and chosen not in names:
        snapshot.unavailable = f":export-hf: --adapter {chosen} is not an adapter of this document ({', '.join(names)})"
    elif project.options.get("adapter_mix") or project.options.get("dequantize"):
        snapshot.unavailable = (f":export-hf of a {modality} base exports adapters as they are: --adapter-mix and "
                                f"--dequantize apply to merged text models")
    pair = media_gguf.targets(project) if media_gguf.has_gguf_pair(project, modality) else []  # :gguf-media, :export-ollama
    built = {t.name for t in pair}
    why = no_gguf_reason(modality, bool(pair))
    refused = [Target(name=":gguf-media", rule="gguf_media", version=0, action=None, deps=trains,
                      description=f"GGUF of a {modality} adapter", unavailable=f":gguf-media cannot be built: {why}")]
    refused += [Target(name=f":export-{kind.name}", rule=f"export_{kind.name.replace('-', '_')}", version=0, action=None,
                       deps=trains, description=kind.description,
                       unavailable=f":export-{kind.name} cannot be built for the {modality} base "
                                   f"{project.doc.config.base_model}: {why}")
                for kind in BUNDLES if kind.name != "hf"]
    aliases = {":train": list(trains), ":gguf": [":gguf-media"], ":export": [":export-hf"]}
    return targets + [snapshot] + pair + [t for t in refused if t.name not in built], aliases


def snapshot_target(project, modality: str, trains: tuple[str, ...]):
    """``:export-hf`` on a media base: every adapter, the processor files, README, manifest."""
    from dlmbuild.engine.target import Target
    from dlmbuild.rules.bundles import publish
    from dlmbuild.rules.support import BaseInputs, toolchain_of
    from dlmbuild.rules.media_gguf import has_gguf_pair
    from dlmbuild.rules.train_media import processor_hash

    return Target(
        name=":export-hf", rule="export_media_hf", version=SNAPSHOT_VERSION, action=lambda ctx: build_snapshot(ctx, modality),
        deps=trains, config={"name": project.doc.path.stem, "modality": modality, "base": project.doc.config.base_model,
                             "gguf_pair": has_gguf_pair(project, modality)},
        inputs=lambda: {**BaseInputs(project).tokenizer(), "base:processor": processor_hash(project)},
        toolchain=lambda: toolchain_of("transformers", "peft"),
        description=f"HF snapshot of the {modality} adapters (PEFT folders and the base's processor)",
        publish=lambda key, out: publish(project, "hf", key, out),
    )


def build_snapshot(ctx, modality: str) -> None:
    from dlmbuild.export.media_snapshot import write_media_snapshot
    from dlmbuild.rules.media_gguf import has_gguf_pair

    project = ctx.project
    adapters = {name.removeprefix(":train-"): folder for name, folder in sorted(ctx.dep_outputs.items())}
    write_media_snapshot(ctx.out_dir, adapters, project.base().path, base_ref=project.doc.config.base_model,
                         name=project.doc.path.stem, modality=modality, pair_built=has_gguf_pair(project, modality))
