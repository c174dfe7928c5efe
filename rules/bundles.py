"""``:export-<runtime>``: runnable bundles, each installed where users look once built.

- ``:export-ollama``: the GGUF and a Modelfile (``FROM`` the merged GGUF, the chat template
  translated to Ollama's template language, stop tokens, sampling defaults, system prompt).
- ``:export-llama-server``: the GGUF, ``chat-template.jinja`` and ``launch.sh``.
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
from dlmbuild.rules import gguf as gguf_rules
from dlmbuild.rules.support import BaseInputs, toolchain_of

BUNDLE_VERSION = 1
KINDS = ("ollama", "llama-server", "vllm", "mlx-serve", "hf")


def targets(project) -> list[Target]:
    items = gguf_rules.mix_items(project)
    quant = bundle_quant(project)
    trains = tuple(f":train-{i.adapter}" for i in items)
    export = project.doc.config.export
    common = {"name": gguf_rules.model_name(project), "export": export.model_dump(mode="json", exclude={"default_quant", "targets"}),
              "system_prompt": project.doc.config.system_prompt, "sequence_len": project.doc.config.training.sequence_len}
    gguf_dep = f":gguf-{quant}"
    specs = [
        ("ollama", (gguf_dep,), {"quant": quant}, build_ollama, "Ollama Modelfile bundle"),
        ("llama-server", (gguf_dep,), {"quant": quant}, build_llama_server, "llama-server bundle"),
        ("vllm", (":merge",), {}, build_vllm, "vLLM bundle (merged HF folder)"),
        ("mlx-serve", trains, {"mix": [[i.adapter, i.weight] for i in items]}, build_mlx, "mlx-lm server bundle"),
        ("hf", trains, {"mix": [[i.adapter, i.weight] for i in items]}, build_hf, "HF snapshot (PEFT adapter)"),
    ]
    out = []
    for kind, deps, extra, action, description in specs:
        out.append(Target(
            name=f":export-{kind}", rule=f"export_{kind.replace('-', '_')}", version=BUNDLE_VERSION,
            action=(lambda a, it: (lambda ctx: a(ctx, it)))(action, items), deps=deps, config=common | extra,
            inputs=lambda: BaseInputs(project).tokenizer(), toolchain=lambda: toolchain_of("transformers", "peft"),
            description=description, publish=(lambda k: (lambda key, out: publish(project, k, key, out)))(kind),
        ))
    return out


def bundle_quant(project) -> str:
    from dlmbuild.export.convert import check_quant

    return check_quant(project.options.get("quant") or project.doc.config.export.default_quant)


def publish(project, kind: str, key: str, out: Path) -> None:
    from dlmbuild.store.exports import publish_export

    dest = project.options.get("out")
    publish_export(project.layout.exports, kind, key, out, Path(dest) if dest else None)


def _copy_gguf(ctx: ActionContext) -> str:
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
    from dlmbuild.export.launchers import llama_server_script
    from dlmbuild.export.merge import with_default_system
    from dlmbuild.train.tokenizer import BaseTokenizer

    project = ctx.project
    config = project.doc.config
    name = _copy_gguf(ctx)
    template = BaseTokenizer(project.base().path).chat_template or ""
    if config.system_prompt and template:  # the same template the GGUF embeds (see export.merge)
        template = with_default_system(template, config.system_prompt)
    (ctx.out_dir / "chat-template.jinja").write_text(template, encoding="utf-8")
    script = ctx.out_dir / "launch.sh"
    script.write_text(llama_server_script(name, ctx=config.training.sequence_len, temperature=config.export.default_temperature,
                                          top_p=config.export.default_top_p), encoding="utf-8")
    script.chmod(0o755)


def build_vllm(ctx: ActionContext, items) -> None:
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

    folders = {i.adapter: ctx.dep_outputs[f":train-{i.adapter}"] for i in items}
    if len(items) == 1 and items[0].weight == 1.0:
        yield folders[items[0].adapter]
        return
    check_mixable(items, folders, gguf_rules.adapter_kinds(ctx, items), dequantize=ctx.project.options.get("dequantize", False))
    from dlmbuild.export.merge import load_mixed

    model, active = load_mixed(ctx.project.base().path, items, folders)
    with tempfile.TemporaryDirectory(prefix="dlm-mix-") as scratch:
        model.save_pretrained(scratch, selected_adapters=[active])
        saved = Path(scratch) / active if (Path(scratch) / active).is_dir() else Path(scratch)
        config_path = saved / "adapter_config.json"
        config = json.loads(config_path.read_text(encoding="utf-8"))
        config["base_model_name_or_path"] = ctx.project.doc.config.base_model
        if isinstance(config.get("target_modules"), list):
            config["target_modules"] = sorted(config["target_modules"])
        config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        (saved / "README.md").unlink(missing_ok=True)
        yield saved


def build_mlx(ctx: ActionContext, items) -> None:
    from dlmbuild.bases.registry import REGISTRY
    from dlmbuild.export.mlx import convert_adapter, launch_script

    project = ctx.project
    layers = json.loads((project.base().path / "config.json").read_text(encoding="utf-8"))["num_hidden_layers"]
    (ctx.out_dir / "adapters").mkdir()
    with selected_adapter(ctx, items) as adapter:
        convert_adapter(adapter, ctx.out_dir / "adapters", layers)
    row = REGISTRY.get(project.doc.config.base_model)
    model_ref = row.hf_id if row else project.doc.config.base_model.removeprefix("hf:").split("@")[0]
    script = ctx.out_dir / "launch.sh"
    script.write_text(launch_script(model_ref), encoding="utf-8")
    script.chmod(0o755)


def build_hf(ctx: ActionContext, items) -> None:
    from dlmbuild.export.hf_snapshot import write_snapshot
    from dlmbuild.export.mix import label

    project = ctx.project
    with selected_adapter(ctx, items) as adapter:
        write_snapshot(ctx.out_dir, adapter, project.base().path, base_ref=project.doc.config.base_model,
                       name=gguf_rules.model_name(project), selection=label(items))
