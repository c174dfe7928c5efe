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


def media_graph(project, modality: str):
    """The targets and aliases of a document on a vision-language or speech base: examples and
    adapters (rules/train_media.py); exports of such adapters are refused in one line until they
    land, before anything trains."""
    from dlmbuild.engine.target import Target
    from dlmbuild.rules import train_media

    targets = train_media.targets(project, modality)
    names = project.doc.config.training.adapter_names
    why = (f"is not available for the {modality} base {project.doc.config.base_model} yet: its adapters are "
           f"used in place (dlm prompt --{'image' if modality == 'vision' else 'audio'})")
    planned = [Target(name=name, rule="export_media", version=0, action=None, deps=tuple(f":train-{n}" for n in names),
                      description=f"{name[1:]} of a {modality} adapter", unavailable=f"{name} {why}")
               for name in (":gguf-media", ":export-media")]
    return targets + planned, {":train": [f":train-{n}" for n in names], ":gguf": [":gguf-media"], ":export": [":export-media"]}
