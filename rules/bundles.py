"""``:export-<runtime>``: runnable bundles, each installed where users look once built.

- ``:export-ollama``: the GGUF and a Modelfile (``FROM`` the merged GGUF, the chat template
  translated to Ollama's template language, stop tokens, sampling defaults, system prompt).
- ``:export-llama-server``: the GGUF, ``chat-template.jinja`` and ``launch.sh``; with the gate
  on, the base GGUF, every LoRA GGUF, the gate and a ``launch.sh`` that serves them routed.
- ``:export-vllm``: the merged HF folder, ``config.yaml`` (``max-model-len`` = sequence_len) and
  ``launch.sh``.
- ``:export-mlx-serve``: the adapter in mlx-lm's format and ``launch.sh``.
- ``:export-hf``: the adapter as a PEFT folder with the tokenizer, a README and sha256 sums.

Bundles are cheap (copies and small text files); their keys hold only the config they render,
so changing ``export.default_temperature`` rewrites a Modelfile and converts nothing. Publishing
installs the committed bundle into ``<store>/exports/<kind>/`` (or ``--out``) atomically and
records its files' sha256 in ``exports/manifest.json``; dlm.lock records the golden hashes.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dlmbuild.engine.target import ActionContext, Target
from dlmbuild.errors import UsageError
from dlmbuild.export.kinds import BUNDLES
from dlmbuild.rules import gguf as gguf_rules
from dlmbuild.rules.prefer import final_target
from dlmbuild.rules.support import BaseInputs, toolchain_of

BUNDLE_VERSION = 1


def targets(project) -> list[Target]:
    """One ``:export-<kind>`` target per row of ``export.kinds.BUNDLES``; what a bundle is made
    from (its ``source``) decides its dependencies and the config it adds to its key."""
    items = gguf_rules.mix_items(project)
    quant = bundle_quant(project)
    trains = tuple(final_target(project, i.adapter) for i in items)
    export = project.doc.config.export
    common = {"name": gguf_rules.model_name(project), "export": export.model_dump(mode="json", exclude={"default_quant", "targets"}),
              "system_prompt": project.doc.config.system_prompt, "sequence_len": project.doc.config.training.sequence_len}
    mix = {"mix": [[i.adapter, i.weight] for i in items]}
    by_source = {"gguf": ((f":gguf-{quant}",), {"quant": quant}), "merge": ((":merge",), {}), "adapter": (trains, mix)}
    out = []
    for kind in BUNDLES:
        deps, extra = by_source[kind.source]
        action = ACTIONS[kind.name]
        if kind.name == "llama-server" and routed_bundle(project):
            deps = (":gguf-base", ":gguf-lora", ":gate")
            extra = {"routed": True, "adapters": [i.adapter for i in items], "routing": project.doc.config.training.gate.routing()}
            action = build_routed_llama_server
        out.append(Target(
            name=f":export-{kind.name}", rule=f"export_{kind.name.replace('-', '_')}", version=BUNDLE_VERSION,
            action=_action(action, items), deps=deps, config=common | extra,
            inputs=lambda: BaseInputs(project).tokenizer(), toolchain=lambda: toolchain_of("transformers", "peft"),
            description=kind.description, publish=_publisher(project, kind.name),
        ))
    return out


def _action(build, items):
    return lambda ctx: build(ctx, items)


def _publisher(project, kind: str):
    return lambda key, out: publish(project, kind, key, out)


def bundle_quant(project) -> str:
    """The quant of the GGUF the Ollama and llama-server bundles ship: ``--quant`` when given,
    else ``export.default_quant``, checked."""
    from dlmbuild.export.convert import check_quant

    return check_quant(project.options.get("quant") or project.doc.config.export.default_quant)


def publish(project, kind: str, key: str, out: Path) -> None:
    """Install the committed bundle ``out`` where users look (``--out`` or ``exports/<kind>``);
    runs on every build, cached or not, so a deleted install is put back (one that holds the
    same key is left alone, user edits included)."""
    from dlmbuild.store.exports import publish_export

    dest = project.options.get("out")
    publish_export(project.layout.exports, kind, key, out, Path(dest) if dest else None)


def _copy_gguf(ctx: ActionContext) -> str:
    """Copy the bundle's GGUF (and its smoke report) from ``:gguf-<quant>``; returns its name."""
    quant = bundle_quant(ctx.project)
    name = gguf_rules.gguf_name(ctx.project, quant)
    source = ctx.dep_outputs[f":gguf-{quant}"]
    shutil.copyfile(source / name, ctx.out_dir / name)
    if (source / gguf_rules.SMOKE).is_file():
        shutil.copyfile(source / gguf_rules.SMOKE, ctx.out_dir / gguf_rules.SMOKE)
    return name


def ollama_template(project) -> tuple[str, str | None]:
    """The chat template family (detected from the template, else the registry row) and the
    system turn exactly as training rendered it (the document's system prompt, or the one the
    template injects when there is none)."""
    from dlmbuild.bases.registry import REGISTRY
    from dlmbuild.export.modelfile import detect_family, system_turn
    from dlmbuild.train.tokenizer import BaseTokenizer

    tokenizer = BaseTokenizer(project.base().path)
    row = REGISTRY.get(project.doc.config.base_model)
    family = detect_family(tokenizer.chat_template) or (row.template if row else None)
    if family is None or not tokenizer.chat_template:
        raise UsageError("cannot translate this base's chat template for Ollama (it is not chatml, llama3 or qwen3)")
    render = lambda messages, generation: tokenizer.render_chat(messages, add_generation_prompt=generation)  # noqa: E731
    return family, system_turn(tokenizer.chat_template, render, project.doc.config.system_prompt)


def build_ollama(ctx: ActionContext, items) -> None:
    """The GGUF and a Modelfile whose template, stop tokens and system turn reproduce the prompts
    training saw, in Ollama's template language."""
    from dlmbuild.export.modelfile import render_modelfile

    project = ctx.project
    config = project.doc.config
    name = _copy_gguf(ctx)
    family, system = ollama_template(project)
    try:
        text = render_modelfile(name, family, system=system, temperature=config.export.default_temperature,
                                top_p=config.export.default_top_p, num_ctx=config.training.sequence_len)
    except ValueError as exc:
        raise UsageError(f"Ollama export: {exc}") from None
    with open(ctx.out_dir / "Modelfile", "w", encoding="utf-8", newline="") as f:
        f.write(text)
    ctx.log(f":export-ollama: Modelfile ({family} template) for {name}")


def build_llama_server(ctx: ActionContext, items) -> None:
    """The GGUF, the chat template as a file (llama-server's ``--jinja`` reads it; the GGUF
    embeds the same one) and ``launch.sh``."""
    from dlmbuild.export.launchers import llama_server_script

    project = ctx.project
    config = project.doc.config
    name = _copy_gguf(ctx)
    write_chat_template(ctx)
    script = ctx.out_dir / "launch.sh"
    script.write_text(llama_server_script(name, ctx=config.training.sequence_len, temperature=config.export.default_temperature,
                                          top_p=config.export.default_top_p), encoding="utf-8")
    script.chmod(0o755)


def write_chat_template(ctx: ActionContext) -> None:
    """``chat-template.jinja``: the base's template with the document's system prompt as its
    default, the same one the GGUF embeds (see export.merge), for llama-server's ``--jinja``."""
    from dlmbuild.export.merge import with_default_system
    from dlmbuild.train.tokenizer import BaseTokenizer

    system = ctx.project.doc.config.system_prompt
    template = BaseTokenizer(ctx.project.base().path).chat_template or ""
    if system and template:
        template = with_default_system(template, system)
    (ctx.out_dir / "chat-template.jinja").write_text(template, encoding="utf-8")


def routed_bundle(project) -> bool:
    """A llama-server bundle routes (base + every LoRA + the gate) when the gate is on and the
    export takes every adapter as trained (no ``--adapter`` / ``--adapter-mix``)."""
    from dlmbuild.rules.gate import enabled

    return enabled(project) and not project.options.get("adapter") and not project.options.get("adapter_mix")


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "chat_template.json")


def build_routed_llama_server(ctx: ActionContext, items) -> None:
    """A multi-adapter llama-server bundle that routes like ``dlm serve``: the base GGUF, each
    adapter's LoRA GGUF, the gate, the base's tokenizer files, ``serve.json`` (what ``dlm serve
    BUNDLE`` reads) and a ``launch.sh`` that runs it (or, without dlm, llama-server with every
    LoRA at scale 1, unrouted, and says so)."""
    from dlmbuild.export.launchers import routed_server_script
    from dlmbuild.gate.feature_model import FEATURES_FILE
    from dlmbuild.gate.router import SUMMARY_FILE, WEIGHTS_FILE
    from dlmbuild.serve.spec import SPEC_FILE, ServeSpec

    project = ctx.project
    config = project.doc.config
    out = ctx.out_dir
    names = [i.adapter for i in items]
    shutil.copyfile(ctx.dep_outputs[":gguf-base"] / "base.F16.gguf", out / "base.F16.gguf")
    for name in names:
        shutil.copyfile(ctx.dep_outputs[":gguf-lora"] / f"{name}.lora.gguf", out / f"{name}.lora.gguf")
    (out / "gate").mkdir()
    for file in (SUMMARY_FILE, WEIGHTS_FILE, FEATURES_FILE):
        shutil.copyfile(ctx.dep_outputs[":gate"] / file, out / "gate" / file)
    (out / "tokenizer").mkdir()
    base = Path(project.base().path)
    for file in TOKENIZER_FILES:
        if (base / file).is_file():
            shutil.copyfile(base / file, out / "tokenizer" / file)
    spec = ServeSpec(name=gguf_rules.model_name(project), base_gguf=out / "base.F16.gguf",
                     loras={n: out / f"{n}.lora.gguf" for n in names}, tokenizer_dir=out / "tokenizer",
                     system_prompt=config.system_prompt, temperature=config.export.default_temperature,
                     top_p=config.export.default_top_p, n_ctx=max(2048, config.training.sequence_len), gate_dir=out / "gate",
                     routing=config.training.gate.routing())
    (out / SPEC_FILE).write_text(json.dumps(spec.to_json(out), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    write_chat_template(ctx)
    script = out / "launch.sh"
    script.write_text(routed_server_script(names, ctx=spec.n_ctx), encoding="utf-8")
    script.chmod(0o755)
    ctx.log(f":export-llama-server: routed bundle: base, {len(names)} LoRA GGUFs and the gate")


def build_vllm(ctx: ActionContext, items) -> None:
    """The merged HF folder under ``model/``, a ``config.yaml`` for ``vllm serve --config`` and
    ``launch.sh``. A float32 merge is served as float16 (``dtype`` in config.yaml); a bf16 or
    fp16 merge as it is."""
    from dlmbuild.export.launchers import vllm_config, vllm_script

    project = ctx.project
    merged = ctx.dep_outputs[":merge"]
    shutil.copytree(merged, ctx.out_dir / "model")
    dtype = json.loads((merged / gguf_rules.MERGE_SUMMARY).read_text(encoding="utf-8"))["dtype"]
    (ctx.out_dir / "config.yaml").write_text(vllm_config(max_model_len=project.doc.config.training.sequence_len,
                                                         dtype="float16" if dtype == "float32" else dtype), encoding="utf-8")
    script = ctx.out_dir / "launch.sh"
    script.write_text(vllm_script(served_name=gguf_rules.model_name(project)), encoding="utf-8")
    script.chmod(0o755)


@contextmanager
def selected_adapter(ctx: ActionContext, items) -> Iterator[Path]:
    """A PEFT folder holding the selection: the trained adapter itself, or the exact weighted
    mix (peft ``cat``) saved into a scratch folder for the duration."""
    from dlmbuild.export.mix import check_mixable
    from dlmbuild.store.adapter_config import stabilize_adapter_folder

    folders = {i.adapter: ctx.dep_outputs[final_target(ctx.project, i.adapter)] for i in items}
    if len(items) == 1 and items[0].weight == 1.0:
        yield folders[items[0].adapter]
        return
    check_mixable(items, folders, gguf_rules.adapter_kinds(ctx, items), dequantize=ctx.project.options.get("dequantize", False))
    from dlmbuild.export.merge import load_mixed

    model, active = load_mixed(ctx.project.base().path, items, folders)
    with tempfile.TemporaryDirectory(prefix="dlm-mix-") as scratch:
        model.save_pretrained(scratch, selected_adapters=[active])
        saved = Path(scratch) / active if (Path(scratch) / active).is_dir() else Path(scratch)
        stabilize_adapter_folder(saved, ctx.project.base().key)
        yield saved


def build_mlx(ctx: ActionContext, items) -> None:
    """The adapter (or mix) converted to mlx-lm's format in ``adapters/``, and a ``launch.sh``
    that serves the base from the Hub (its ``hf_id``) with it: mlx-lm loads the base itself."""
    from dlmbuild.bases.registry import REGISTRY
    from dlmbuild.export.launchers import mlx_server_script
    from dlmbuild.export.mlx import convert_adapter

    project = ctx.project
    layers = json.loads((project.base().path / "config.json").read_text(encoding="utf-8"))["num_hidden_layers"]
    (ctx.out_dir / "adapters").mkdir()
    with selected_adapter(ctx, items) as adapter:
        convert_adapter(adapter, ctx.out_dir / "adapters", layers)
    row = REGISTRY.get(project.doc.config.base_model)
    model_ref = row.hf_id if row else project.doc.config.base_model.removeprefix("hf:").split("@")[0]
    script = ctx.out_dir / "launch.sh"
    script.write_text(mlx_server_script(model_ref), encoding="utf-8")
    script.chmod(0o755)


def build_hf(ctx: ActionContext, items) -> None:
    """The adapter (or mix) as a PEFT folder with the base's tokenizer, a README and SHA256SUMS."""
    from dlmbuild.export.hf_snapshot import write_snapshot
    from dlmbuild.export.mix import label

    project = ctx.project
    with selected_adapter(ctx, items) as adapter:
        write_snapshot(ctx.out_dir, adapter, project.base().path, base_ref=project.doc.config.base_model,
                       name=gguf_rules.model_name(project), selection=label(items))


# the build action of each kind in export.kinds.BUNDLES
ACTIONS = {"ollama": build_ollama, "llama-server": build_llama_server, "vllm": build_vllm, "mlx-serve": build_mlx, "hf": build_hf}
