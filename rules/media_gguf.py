"""``:gguf-media`` and ``:export-ollama`` of a vision adapter: a text GGUF plus an ``mmproj``
projector GGUF that llama.cpp's multimodal library (libmtmd) runs.

Only the bases whose pair has been checked end to end are built (``vision.gguf.SUPPORTED``: the
SmolVLM/Idefics3 family); for any other vision base, and for speech bases, both targets are
refused in one line before anything trains (``rules/media.py``).

- ``:gguf-media`` (heavy): the adapter merged into the base in a scratch folder
  (``vision.merge``), converted twice by the pinned ``convert_hf_to_gguf.py`` (the text model,
  then ``--mmproj``), and smoke-tested: llama.cpp answers the document's first image question
  greedily and must give transformers' tokens, prompt layout included (``vision.smoke``). The
  result is ``smoke.json`` beside the two files. One adapter per pair: the one ``--adapter``
  names, or the document's only one.
- ``:export-ollama``: both files and a Modelfile with two ``FROM`` lines, the model and then its
  projector, which is how Ollama imports a vision model.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from dlmbuild.engine.target import ActionContext, Target

GGUF_VERSION = 1
BUNDLE_VERSION = 1
SMOKE = "smoke.json"
OUTTYPE = "f16"


def supported_architecture(project) -> str | None:
    """The base's architecture when its VL GGUF pair can be built, else None."""
    from dlmbuild.vision.gguf import SUPPORTED

    try:
        config = json.loads((Path(project.base().path) / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    arch = (config.get("architectures") or [None])[0]
    return arch if arch in SUPPORTED else None


def has_gguf_pair(project, modality: str) -> bool:
    """Whether this document's adapters export as a vision GGUF pair."""
    return modality == "vision" and supported_architecture(project) is not None


def chosen_adapter(project) -> tuple[str | None, str]:
    """(the adapter a GGUF pair is made from, '') or (None, why no single one can be chosen)."""
    names = project.doc.config.training.adapter_names
    chosen = project.options.get("adapter")
    if chosen:
        return (chosen, "") if chosen in names else (None, f"--adapter {chosen} is not an adapter of this document ({', '.join(names)})")
    if len(names) == 1:
        return names[0], ""
    return None, f"a vision GGUF holds one adapter merged in; choose one with --adapter ({', '.join(names)})"


def file_names(project) -> tuple[str, str]:
    stem = project.doc.path.stem
    return f"{stem}.{OUTTYPE}.gguf", f"{stem}.mmproj.{OUTTYPE}.gguf"  # as vision.gguf.convert_vl names them


def targets(project) -> list[Target]:
    """``:gguf-media`` and ``:export-ollama`` for a vision document on a supported base."""
    from dlmbuild.export.toolchain import pin_key
    from dlmbuild.rules.bundles import publish
    from dlmbuild.rules.support import BaseInputs, toolchain_of
    from dlmbuild.rules.train_media import processor_hash

    name, why = chosen_adapter(project)
    text, mmproj = file_names(project)
    smoke = bool(project.options.get("smoke", True))
    gguf = Target(
        name=":gguf-media", rule="gguf_vision", version=GGUF_VERSION, action=lambda ctx: build_pair(ctx, name),
        deps=(f":train-{name}", f":examples-{name}") if name else (),
        config={"adapter": name, "files": [text, mmproj], "smoke": smoke},
        inputs=lambda: {**BaseInputs(project).weights(), "base:processor": processor_hash(project)},
        toolchain=lambda: pin_key() | toolchain_of("torch", "transformers", "peft", "pillow"), heavy=True,
        description="text GGUF + mmproj GGUF of the vision adapter (F16), smoke-tested through libmtmd",
    )
    export = project.doc.config.export
    ollama = Target(
        name=":export-ollama", rule="export_ollama_vision", version=BUNDLE_VERSION, action=build_ollama,
        deps=(":gguf-media",), config={"files": [text, mmproj], "temperature": export.default_temperature,
                                        "top_p": export.default_top_p, "num_ctx": project.doc.config.training.sequence_len},
        inputs=lambda: BaseInputs(project).tokenizer(), toolchain=lambda: toolchain_of("transformers"),
        description="Ollama Modelfile bundle (model and projector)", publish=lambda key, out: publish(project, "ollama", key, out),
    )
    why = why or refused_option(project)
    if why:
        gguf.unavailable = f":gguf-media cannot be built: {why}"
        ollama.unavailable = f":export-ollama cannot be built: {why}"
    return [gguf, ollama]


def refused_option(project) -> str:
    """Why an export option cannot apply to a vision pair ('' when none is given): the pair is
    written at F16 from one adapter, so ``--quant``, ``--adapter-mix`` and ``--dequantize`` would
    otherwise be silently ignored."""
    quant = project.options.get("quant")
    if quant and quant.lower() != OUTTYPE:
        return f"a vision GGUF pair is written at F16; --quant {quant} applies to text models"
    if project.options.get("adapter_mix") or project.options.get("dequantize"):
        return "a vision GGUF pair holds one adapter as trained: --adapter-mix and --dequantize apply to merged text models"
    return ""


def smoke_example(examples: list[dict]) -> dict | None:
    """The example the smoke test asks: the first with an image and a question, else the first
    with an image (asked to describe it, as training asked)."""
    with_image = [e for e in examples if e["media"]]
    return next((e for e in with_image if e["prompt"]), with_image[0] if with_image else None)


def build_pair(ctx: ActionContext, name: str) -> None:
    from dlmbuild.errors import EnvironmentProblem
    from dlmbuild.export.toolchain import require
    from dlmbuild.rules.train_media import read_examples
    from dlmbuild.vision.collate import example_prompt
    from dlmbuild.vision.gguf import check_architecture, convert_vl
    from dlmbuild.vision.merge import merge_adapter
    from dlmbuild.vision.smoke import mtmd_problem, smoke_vl

    project = ctx.project
    toolchain = require()
    base = Path(project.base().path)
    check_architecture(base)
    example = smoke_example(read_examples(ctx.dep_outputs[f":examples-{name}"]))
    smoke = bool(project.options.get("smoke", True)) and example is not None
    if smoke and (problem := mtmd_problem()):
        raise EnvironmentProblem(f":gguf-media: cannot smoke-test the pair: {problem}")
    with tempfile.TemporaryDirectory(prefix="dlm-vl-merge-", dir=ctx.out_dir.parent) as scratch:
        ctx.log(f":gguf-media: merging adapter '{name}' and converting with llama.cpp {toolchain.pin.version}")
        merged = merge_adapter(base, ctx.dep_outputs[f":train-{name}"], Path(scratch) / "merged")
        files = convert_vl(toolchain, merged, ctx.out_dir, name=project.doc.path.stem, outtype=OUTTYPE)
        if not smoke:
            ctx.log(":gguf-media: not smoke-tested (" + ("--no-smoke" if example is not None else "no image example to ask about") + ")")
        else:
            question = example_prompt({"images": example["media"], "prompt": example["prompt"]})
            result = smoke_vl(files, merged, question, list(example["media"]), cancel=ctx.cancelled)
            (ctx.out_dir / SMOKE).write_text(json.dumps(result.as_dict(), sort_keys=True, indent=1) + "\n", encoding="utf-8")
            ctx.log(f":gguf-media: smoke: llama.cpp answered {question!r} about {Path(example['media'][0]).name} as "
                    f"transformers does ({len(result.tokens)} tokens): {result.text.strip()!r}")


def build_ollama(ctx: ActionContext) -> None:
    """Both GGUFs and a Modelfile that imports the model and its projector."""
    from dlmbuild.errors import UsageError
    from dlmbuild.export.modelfile import FAMILIES, detect_family, render_vision_modelfile
    from dlmbuild.multimodal.model import load_processor

    project = ctx.project
    family = detect_family(getattr(load_processor(project.base().path), "chat_template", None))
    if family is None:
        raise UsageError(f"cannot translate this base's chat template for Ollama (dlm knows {', '.join(FAMILIES)})")
    source = ctx.dep_outputs[":gguf-media"]
    text, mmproj = file_names(project)
    for file in (text, mmproj, SMOKE):
        if (source / file).is_file():
            shutil.copyfile(source / file, ctx.out_dir / file)
    config = project.doc.config
    modelfile = render_vision_modelfile(text, mmproj, family, temperature=config.export.default_temperature,
                                        top_p=config.export.default_top_p, num_ctx=config.training.sequence_len)
    with open(ctx.out_dir / "Modelfile", "w", encoding="utf-8", newline="") as handle:
        handle.write(modelfile)
    ctx.log(f":export-ollama: Modelfile ({family} template) for {text} with its projector {mmproj}")
