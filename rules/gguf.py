"""``:merge``, ``:gguf-<quant>``, ``:gguf-base`` and ``:gguf-lora``: from adapters to GGUF files.

- ``:merge`` (heavy): the selected adapters (all, ``--adapter``, or ``--adapter-mix``) merged
  into the base in float32 and saved as an HF folder with the base's tokenizer and template.
- ``:gguf-f16`` (heavy): llama.cpp's converter on the merged folder. ``:gguf-q8_0`` and the
  K-quants quantize the F16 file, so an edit to ``export.default_quant`` reruns one quantize
  call and nothing upstream: the quant is in no key but its own target's.
- ``:gguf-base`` / ``:gguf-lora``: the base alone at F16 and each adapter as a GGUF LoRA, for
  runtimes that apply adapters at load time (``llama-server --lora``).

Every GGUF is smoke-tested as it is built (see ``dlmbuild.export.smoke``); the result is part
of the output (``smoke.json``) and is printed. The pinned toolchain, build flags included,
enters each key. llama.cpp runs in child processes: if it crashes, the target fails with one
line and every previous output stays as it was.
"""

from __future__ import annotations

import json
from pathlib import Path

from dlmbuild.engine.target import ActionContext, Target
from dlmbuild.export.convert import QUANTS
from dlmbuild.export.toolchain import pin_key
from dlmbuild.rules.prefer import final_target
from dlmbuild.rules.support import BaseInputs, machine_of, toolchain_of

MERGE_VERSION = 1
GGUF_VERSION = 1
MERGE_SUMMARY = "dlm-merge.json"
SMOKE = "smoke.json"
# What a native crash leaves intact: outputs are committed only when an action succeeds.
KEPT = "the previous export is kept"


def targets(project) -> list[Target]:
    items = mix_items(project)
    out = [merge_target(project, items), base_gguf_target(project), lora_target(project, items)]
    out += [gguf_target(project, quant) for quant in QUANTS]
    return out


def mix_items(project):
    from dlmbuild.export.mix import select

    return select(project.doc.config.training.adapter_names, project.options.get("adapter"), project.options.get("adapter_mix"))


def smoke_enabled(project) -> bool:
    return bool(project.options.get("smoke", True))


def model_name(project) -> str:
    return project.doc.path.stem


def gguf_name(project, quant: str) -> str:
    return f"{model_name(project)}.{quant.upper()}.gguf"


# -- :merge -----------------------------------------------------------------------------------

def merge_target(project, items) -> Target:
    return Target(
        name=":merge", rule="merge", version=MERGE_VERSION, action=lambda ctx: build_merge(ctx, items),
        deps=tuple(final_target(project, i.adapter) for i in items),
        config={"mix": [[i.adapter, i.weight] for i in items], "dequantize": bool(project.options.get("dequantize", False)),
                "system_prompt": project.doc.config.system_prompt},
        inputs=lambda: BaseInputs(project).weights(), toolchain=lambda: toolchain_of("torch", "transformers", "peft"),
        machine=machine_of("fp32"), heavy=True, description="merge adapters into the base (HF folder)",
    )


def adapter_kinds(ctx: ActionContext, items) -> dict[str, str]:
    kinds = {}
    for item in items:
        summary = ctx.dep_outputs[final_target(ctx.project, item.adapter)] / "dlm-train.json"
        kinds[item.adapter] = json.loads(summary.read_text(encoding="utf-8"))["plan"].get("kind", "lora")
    return kinds


def build_merge(ctx: ActionContext, items) -> None:
    from dlmbuild.export.merge import merge
    from dlmbuild.export.mix import check_mixable, label

    project = ctx.project
    folders = {i.adapter: ctx.dep_outputs[final_target(ctx.project, i.adapter)] for i in items}
    check_mixable(items, folders, adapter_kinds(ctx, items), dequantize=project.options.get("dequantize", False))
    ctx.log(f":merge: {label(items)} into {project.doc.config.base_model}")
    summary = merge(project.base().path, items, folders, ctx.out_dir, project.doc.config.system_prompt)
    (ctx.out_dir / MERGE_SUMMARY).write_text(json.dumps(summary, sort_keys=True, indent=1) + "\n", encoding="utf-8")


# -- :gguf-<quant> ----------------------------------------------------------------------------

def gguf_target(project, quant: str) -> Target:
    deps = (":merge",) if quant == "f16" else (":gguf-f16",)
    return Target(
        name=f":gguf-{quant}", rule="gguf", version=GGUF_VERSION, action=lambda ctx: build_gguf(ctx, quant),
        deps=deps, config={"quant": quant, "name": model_name(project), "smoke": smoke_enabled(project),
                           "system_prompt": project.doc.config.system_prompt, "smoke_question": smoke_question(project)},
        toolchain=lambda: pin_key() | toolchain_of("torch", "transformers"), heavy=True,
        description=f"GGUF at {quant.upper()}" + (" (converted from the merge)" if quant == "f16" else " (quantized from F16)"),
    )


def build_gguf(ctx: ActionContext, quant: str) -> None:
    from dlmbuild.export import convert
    from dlmbuild.export.toolchain import require

    project = ctx.project
    toolchain = require()
    out = ctx.out_dir / gguf_name(project, quant)
    if quant == "f16":
        merged = ctx.dep_outputs[":merge"]
        convert.check_architecture(merged)
        ctx.log(f":gguf-f16: converting the merged model with llama.cpp {toolchain.pin.version}")
        convert.to_gguf(toolchain, merged, out, "f16", model_name(project))
    else:
        source = ctx.dep_outputs[":gguf-f16"] / gguf_name(project, "f16")
        note = convert.quantize(source, out, quant, consequence=KEPT, cancel=ctx.cancelled)
        ctx.log(f":gguf-{quant}: quantized F16 to {quant.upper()}" + (f" ({note})" if note else ""))
    if smoke_enabled(project):
        reference_dir = ctx.dep_outputs[":merge"] if quant == "f16" else None
        run_smoke(ctx, out, reference_dir)


def smoke_question(project) -> str:
    from dlmbuild.document.sections import SectionType

    for section in project.doc.sections:
        if section.type == SectionType.INSTRUCTION and section.pairs:
            return section.pairs[0].question
    return "What is this document about?"


def run_smoke(ctx: ActionContext, gguf: Path, reference_dir: Path | None, lora: Path | None = None) -> None:
    from dlmbuild.export.smoke import reference_greedy, smoke_gguf
    from dlmbuild.train.tokenizer import BaseTokenizer

    project = ctx.project
    tokenizer = BaseTokenizer(project.base().path)
    question = smoke_question(project)
    system = project.doc.config.system_prompt
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": question}]
    text = tokenizer.render_chat(messages, add_generation_prompt=True)
    ids = tokenizer.encode(text)
    reference = None
    if reference_dir is not None:
        eos = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
        reference = reference_greedy(reference_dir, ids, eos)
    result = smoke_gguf(gguf, question, text, ids, reference=reference, lora=lora, consequence=KEPT, cancel=ctx.cancelled)
    (ctx.out_dir / SMOKE).write_text(json.dumps(result.as_dict(), sort_keys=True, indent=1) + "\n", encoding="utf-8")
    ctx.log(result.line())


# -- :gguf-base and :gguf-lora ----------------------------------------------------------------

def base_gguf_target(project) -> Target:
    return Target(
        name=":gguf-base", rule="gguf_base", version=GGUF_VERSION, action=build_base_gguf,
        config={"name": model_name(project) + "-base"}, inputs=lambda: BaseInputs(project).weights(),
        toolchain=pin_key, heavy=True, description="the base alone as an F16 GGUF (for --lora runtimes)",
    )


def build_base_gguf(ctx: ActionContext) -> None:
    from dlmbuild.export import convert
    from dlmbuild.export.toolchain import require

    base = ctx.project.base().path
    convert.check_architecture(base)
    convert.to_gguf(require(), base, ctx.out_dir / "base.F16.gguf", "f16", model_name(ctx.project) + "-base")


def lora_target(project, items) -> Target:
    names = tuple(i.adapter for i in items)
    return Target(
        name=":gguf-lora", rule="gguf_lora", version=GGUF_VERSION, action=lambda ctx: build_lora(ctx, names),
        deps=(":gguf-base", *(final_target(project, n) for n in names)),
        config={"adapters": list(names), "smoke": smoke_enabled(project), "smoke_question": smoke_question(project),
                "system_prompt": project.doc.config.system_prompt},
        inputs=lambda: BaseInputs(project).tokenizer(), toolchain=lambda: pin_key() | toolchain_of("torch"),
        heavy=True, description="each adapter as a GGUF LoRA (applied at load time)",
    )


def build_lora(ctx: ActionContext, names: tuple[str, ...]) -> None:
    from dlmbuild.export import convert
    from dlmbuild.export.toolchain import require

    toolchain = require()
    base = ctx.project.base().path
    convert.check_architecture(base)
    for name in names:
        out = ctx.out_dir / f"{name}.lora.gguf"
        convert.lora_to_gguf(toolchain, ctx.dep_outputs[final_target(ctx.project, name)], base, out)
        ctx.log(f":gguf-lora: {out.name}")
    if smoke_enabled(ctx.project):
        run_smoke(ctx, ctx.dep_outputs[":gguf-base"] / "base.F16.gguf", None, lora=ctx.out_dir / f"{names[0]}.lora.gguf")
