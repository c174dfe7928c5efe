"""``:examples-<adapter>`` and ``:train-<adapter>`` on a vision-language or speech base.

A text base trains on token rows (rules/tokenize.py, rules/train.py). A base that reads images
or clips trains on *examples*, each one media file (or none) with the text that goes with it,
because its processor decides how pixels and samples become model inputs:

- speech (Whisper): every ``::audio::`` section is (clip, transcript); the adapter learns to
  transcribe the document's names and terms. Other section types teach a speech model nothing
  and are refused at their fence.
- vision: every ``::image::`` section is (image, caption: its text, else its alt); an
  ``::instruction::`` section right after an image section (or after another one attached to
  it) asks about that image; other instruction sections and prose are text-only examples.
  Image files selected by ``training.sources`` become (image, its file stem).
- audio-language (Qwen2-Audio class): the same shape with clips: every ``::audio::`` section is
  (clip, transcript), and the instruction sections right after it ask about that clip.

``:examples-<name>`` copies each media file, content-addressed (``media/<hash><suffix>``), into
its output and writes ``examples.jsonl``: the adapter is trained from those copies, never from
a path the user may be editing, and the file's bytes (not its mtime) are in the key.
``:train-<name>`` trains a LoRA adapter on them from the base (hermetic, like text training)
and publishes it as the adapter's next version.

Settings the media trainers do not use are refused where they are written, not ignored.
"""

from __future__ import annotations

import json
from pathlib import Path

from dlmbuild.document.sections import SectionType
from dlmbuild.engine.hashing import hash_json
from dlmbuild.engine.target import ActionContext, Target
from dlmbuild.errors import DocumentError, Location
from dlmbuild.rules.support import BaseInputs, machine_of, routed_section_inputs, toolchain_of

EXAMPLES_VERSION = 1
TRAIN_VERSION = 1
EXAMPLES = "examples.jsonl"
# training.* settings a media trainer honours; any other set explicitly is refused.
SUPPORTED = {"lora_r", "lora_alpha", "learning_rate", "num_epochs", "max_steps", "seed", "adapters", "sources",
             "sources_policy", "cache"}
SUPPORTED_PER_ADAPTER = {"lora_r", "lora_alpha", "learning_rate", "num_epochs"}
PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json", "feature_extractor_config.json")


def is_media_base(modality: str) -> bool:
    return modality in ("vision", "speech", "audio")


def targets(project, modality: str) -> list[Target]:
    check_settings(project, modality)
    check_sections(project, modality)
    out = []
    for name in project.doc.config.training.adapter_names:
        out += [examples_target(project, modality, name), train_target(project, modality, name)]
    return out


# -- refusals ---------------------------------------------------------------------------------

def _setting_location(project, keys: tuple) -> Location:
    key_node, node = project.doc.frontmatter.find(keys)
    mark = getattr(key_node or node, "start_mark", None)
    line = project.doc.frontmatter.first_line + mark.line if mark is not None else project.doc.frontmatter.first_line
    return Location(project.doc.path, line, (mark.column + 1) if mark is not None else 1)


def check_settings(project, modality: str) -> None:
    """Refuse explicitly set training knobs the media trainer does not honour."""
    training = project.doc.config.training
    base = project.doc.config.base_model
    for field in sorted(training.model_fields_set - SUPPORTED):
        raise DocumentError(f"training.{field} is not used when training {modality} base {base}; remove it "
                            f"(media training takes {', '.join(sorted(SUPPORTED - {'adapters', 'sources', 'sources_policy', 'cache'}))})",
                            _setting_location(project, ("training", field)))
    for name, spec in (training.adapters or {}).items():
        if spec is None:
            continue
        for field in sorted(spec.model_fields_set - SUPPORTED_PER_ADAPTER):
            raise DocumentError(f"training.adapters.{name}.{field} is not used when training {modality} base {base}; remove it",
                                _setting_location(project, ("training", "adapters", name, field)))


# Whisper's encoder, and Qwen2-Audio's (Whisper's feature extractor), take 30 s windows
# (chunk_length); a longer clip would be cut, and the transcript would no longer match what the
# model hears.
SPEECH_MAX_SECONDS = 30.0


def check_sections(project, modality: str) -> None:
    """A speech base learns from clips alone: refuse any other section at its fence. On a speech
    or audio-language base, refuse a clip longer than the base hears, at its fence."""
    if modality not in ("speech", "audio"):
        return
    from dlmbuild.document.media_files import clip_seconds

    base = project.doc.config.base_model
    for section in project.doc.sections:
        where = Location(project.doc.path, section.line or 1, 1)
        if modality == "speech" and section.type is not SectionType.AUDIO:
            raise DocumentError(f"::{section.type.value}:: trains nothing on speech base {base}: its adapters learn from "
                                f"::audio:: clips and their transcripts", where)
        if section.type is not SectionType.AUDIO:
            continue
        seconds = clip_seconds(project.media_path(section))
        if seconds > SPEECH_MAX_SECONDS:
            raise DocumentError(f"clip '{section.attributes['path']}' is {seconds:.1f} s long; {base} takes at most "
                                f"{SPEECH_MAX_SECONDS:.0f} s per clip (split it, with a transcript per part)", where)


# -- :examples-<name> -------------------------------------------------------------------------

def _image_files(project, name: str) -> list:
    """Image files ``training.sources`` selects for ``name`` (a VL base reads them)."""
    from dlmbuild.document.media_files import media_kind
    from dlmbuild.document.sources import source_adapters

    names = project.doc.config.training.adapter_names
    return [f for f in project.sources.files if media_kind(f.relpath) == "image" and name in source_adapters(f, names)]


def examples_target(project, modality: str, name: str) -> Target:
    def inputs() -> dict[str, str]:
        named = {k: v for k, v in routed_section_inputs(project).items()}
        for section_id, digest in project.media_hashes.items():
            named[f"media:{section_id}"] = digest
        if modality == "vision":
            for file in _image_files(project, name):
                named[f"file:{file.relpath}"] = project.source_hashes[file.relpath]
        return named

    return Target(
        name=f":examples-{name}", rule="examples", version=EXAMPLES_VERSION, action=lambda ctx: build_examples(ctx, modality, name),
        config={"adapter": name, "modality": modality, "system_prompt": project.doc.config.system_prompt},
        inputs=inputs, toolchain=lambda: toolchain_of(),
        description=f"{modality} examples of adapter '{name}' (media copied by content hash)",
    )


def examples_for(project, modality: str, name: str) -> list[dict]:
    """The adapter's examples, in document order, with media as (section path, content hash)."""
    out: list[dict] = []
    attached = None  # the image or clip the following instruction sections ask about
    for section in project.doc.sections:
        routed = name in section.adapters
        if section.type is SectionType.IMAGE:
            attached = section
            if routed:
                caption = section.text.strip() or section.attributes["alt"]
                out.append({"media": [section.id], "prompt": None, "answer": caption, "line": section.line})
        elif section.type is SectionType.AUDIO:
            attached = section
            if routed:
                out.append({"media": [section.id], "prompt": None, "answer": section.attributes["transcript"], "line": section.line})
        elif section.type is SectionType.INSTRUCTION:
            if routed:
                media = [attached.id] if attached is not None else []
                out += [{"media": media, "prompt": p.question, "answer": p.answer, "line": p.line} for p in section.pairs]
        else:
            attached = None
            if routed and section.type is SectionType.PROSE and section.text.strip():
                out.append({"media": [], "prompt": None, "answer": section.text, "line": section.line})
    return out


def build_examples(ctx: ActionContext, modality: str, name: str) -> None:
    from dlmbuild.store.media import MediaChanged, MediaStore

    project = ctx.project
    media = MediaStore(ctx.out_dir / "media")
    by_id = {s.id: s for s in project.doc.sections}
    hashes = project.media_hashes
    stored: dict[str, str] = {}

    def keep(path: Path, digest: str) -> str:
        try:
            return media.put(path, digest, project.filestate.hash).relative_to(ctx.out_dir).as_posix()
        except MediaChanged as exc:
            raise DocumentError(str(exc), Location(project.doc.path)) from None

    rows = []
    for example in examples_for(project, modality, name):
        files = []
        for section_id in example["media"]:
            if section_id not in stored:
                stored[section_id] = keep(project.media_path(by_id[section_id]), hashes[section_id])
            files.append(stored[section_id])
        rows.append({"media": files, "prompt": example["prompt"], "answer": example["answer"]})
    if modality == "vision":
        for file in _image_files(project, name):
            rows.append({"media": [keep(file.path, project.source_hashes[file.relpath])], "prompt": None,
                         "answer": Path(file.relpath).stem})
    if not rows:
        wanted = {"speech": "::audio:: sections", "audio": "::audio:: or ::instruction:: sections"}
        raise DocumentError(f"adapter '{name}' has nothing to train on: give it "
                            f"{wanted.get(modality, '::image:: or ::instruction:: sections')}", Location(project.doc.path))
    (ctx.out_dir / EXAMPLES).write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows), encoding="utf-8")
    ctx.log(f":examples-{name}: {len(rows)} examples, {len(stored)} media files")


def read_examples(folder: Path) -> list[dict]:
    """The examples of an ``:examples-<name>`` output, with media paths made absolute."""
    rows = [json.loads(line) for line in (folder / EXAMPLES).read_text(encoding="utf-8").splitlines() if line.strip()]
    for row in rows:
        row["media"] = [folder / rel for rel in row["media"]]
    return rows


# -- :train-<name> ----------------------------------------------------------------------------

def knobs(project, name: str) -> dict:
    """The adapter's LoRA rank and alpha, learning rate, epochs, step cap and seed ('auto' is
    None: the trainer's default for its modality)."""
    training = project.doc.config.training
    spec = (training.adapters or {}).get(name)

    def pick(field: str):
        value = getattr(spec, field, None) if spec is not None else None
        value = getattr(training, field) if value is None else value
        return None if value == "auto" else value

    return {"r": pick("lora_r"), "alpha": pick("lora_alpha"), "learning_rate": pick("learning_rate"),
            "epochs": pick("num_epochs"), "max_steps": training.max_steps, "seed": training.seed}


def processor_hash(project) -> str:
    """The processor's settings (image size, sampling rate) as the base's files hold them."""
    folder = project.base().path
    return hash_json({f: project.filestate.hash(folder / f) for f in PROCESSOR_FILES if (folder / f).is_file()})


def train_target(project, modality: str, name: str) -> Target:
    packages = ("torch", "transformers", "peft", *(("soundfile", "soxr") if modality in ("speech", "audio") else ("pillow",)))
    return Target(
        name=f":train-{name}", rule=f"train_{modality}", version=TRAIN_VERSION, action=lambda ctx: train(ctx, modality, name),
        deps=(f":examples-{name}",), config={"adapter_name": name, **knobs(project, name)},
        inputs=lambda: {**BaseInputs(project).weights(), "base:processor": processor_hash(project)},
        toolchain=lambda: toolchain_of(*packages), heavy=True, machine=machine_of("fp32"),
        description=f"train a LoRA adapter '{name}' on the {modality} base",
        publish=lambda key, out: publish(project, name, key, out),
    )


def train(ctx: ActionContext, modality: str, name: str) -> None:
    """Train from the base on the adapter's examples: ``training.max_steps`` steps, else
    ``num_epochs`` passes over the examples, else the trainer's default for its modality."""
    import os

    project = ctx.project
    examples = read_examples(ctx.dep_outputs[f":examples-{name}"])
    settings = knobs(project, name)
    epochs, max_steps = settings.pop("epochs"), settings.pop("max_steps")
    steps = max_steps or (epochs * len(examples) if epochs else None)
    options = {k: v for k, v in {**settings, "steps": steps}.items() if v is not None}
    options["threads"] = int(os.environ.get("DLM_THREADS", "0")) or (os.cpu_count() or 1)
    base = project.base()
    ctx.check_cancelled()
    try:
        if modality == "speech":
            from dlmbuild.speech.train import train_speech_lora

            pairs = [(row["media"][0], row["answer"]) for row in examples]
            summary = train_speech_lora(base.path, pairs, ctx.out_dir, base_key=base.key, **options)
        elif modality == "audio":
            from dlmbuild.audiolm.train import train_audio_lm_lora

            rows = [{"clips": row["media"], "prompt": row["prompt"], "answer": row["answer"]} for row in examples]
            summary = train_audio_lm_lora(base.path, rows, ctx.out_dir, base_key=base.key, **options)
        else:
            from dlmbuild.vision.train import train_vision_lora

            rows = [{"images": row["media"], "prompt": row["prompt"], "answer": row["answer"]} for row in examples]
            summary = train_vision_lora(base.path, rows, ctx.out_dir, base_key=base.key, **options)
    except ValueError as exc:  # a clip or image the trainer cannot use: one line
        raise DocumentError(str(exc), Location(project.doc.path)) from None
    (ctx.out_dir / "dlm-train.json").write_text(json.dumps(summary, indent=1, sort_keys=True, default=str), encoding="utf-8")
    ctx.log(f":train-{name}: {modality} adapter, {summary.get('steps', '?')} steps on {len(examples)} examples")


def publish(project, name: str, key: str, out: Path) -> None:
    from dlmbuild.store.versions import AdapterVersions

    versions = AdapterVersions(project.layout.adapters, name)
    current = versions.current()
    if current is None or current.key != key:
        versions.publish(key, out)
