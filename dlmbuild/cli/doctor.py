"""``dlm doctor [DOC] [--json]``: what training would do on this machine, before it does it.

Without a document it reports the machine: device, precision, threads, memory, disk, toolchain,
the embedded base. With one it resolves every adapter's plan (steps, batch, learning rate, target
modules) the way ``:train`` will, estimates peak memory, and lists refusals with their fix. The
number of packed blocks comes from the last ``:data-<adapter>`` output when there is one, else
from the document's length (about four characters per token).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import typer

from dlmbuild.rules.support import package_version

GIB = 1024**3
TOOLCHAIN = ("torch", "transformers", "peft", "trl", "accelerate", "tokenizers", "gguf", "bitsandbytes", "llama-cpp-python")


def machine_report(home: Path) -> dict:
    import importlib.util

    import torch

    from dlmbuild.bases.embedded import INSTALL_HINT, PACKAGE, bases_root
    from dlmbuild.train.device import pick_device
    from dlmbuild.train.resources import available_memory, free_disk

    device = pick_device("auto")
    memory = available_memory(device.device)
    embedded_installed = importlib.util.find_spec(PACKAGE) is not None
    converted = any(bases_root(home).glob("smollm2-135m/*/model.safetensors")) if bases_root(home).exists() else False
    refusals = []
    if not embedded_installed:
        refusals.append(f"embedded base smollm2-135m is not installed: {INSTALL_HINT}")
    try:
        import bitsandbytes  # noqa: F401

        qlora = "available"
    except Exception:
        qlora = "unavailable (pip install bitsandbytes to train adapter: qlora)"
    return {
        "device": device.as_dict() | {"cuda_devices": torch.cuda.device_count()},
        "memory_free_gib": round(memory / GIB, 1) if memory else None,
        "disk_free_gib": round(free_disk(home) / GIB, 1),
        "home": str(home),
        "toolchain": {name: package_version(name) for name in TOOLCHAIN},
        "embedded_base": {"installed": embedded_installed, "converted": converted},
        "qlora": qlora,
        "export": export_toolchain(),
        "cpu": cpu_report(),
        "remotes": remotes_report(home),
        "refusals": refusals,
    }


def document_report(doc: Path, home: Path) -> dict:
    from dlmbuild.cli.common import open_project
    from dlmbuild.engine.lockfile import read_lock
    from dlmbuild.train.device import pick_device
    from dlmbuild.train.plan import make_plan
    from dlmbuild.train.resources import available_memory, estimate

    project, _graph = open_project(doc, home)
    training = project.doc.config.training
    device = pick_device(training.precision)
    from dlmbuild.rules.media import base_modality

    modality = base_modality(project)
    from dlmbuild.rules.train_media import is_media_base

    if is_media_base(modality):
        from dlmbuild.cli.doctor_media import media_plan

        adapters, refusals = media_plan(project, modality, available_memory(device.device))
        return {"document": str(doc), "base": project.doc.config.base_model, "device": device.as_dict(),
                "modality": modality, "adapters": adapters, "refusals": refusals}
    refusals = []
    base = resolved_base_or_refusal(project, refusals)
    lock = read_lock(project.doc.path)
    adapters = {}
    for name in training.adapter_names:
        blocks, source = _blocks(project, lock, name)
        answers = sum(len(getattr(s, "pairs", None) or ()) for s in project.doc.sections if name in s.adapters)
        plan = make_plan(training, name, blocks, answers=answers)
        entry = {"plan": plan.as_dict(), "blocks_from": source}
        knobs = training.augment
        if knobs.rephrasings or knobs.prose_questions:
            # written by the base at :train time, so not countable here: say what they change
            entry["augment"] = {"rephrasings_per_question": knobs.rephrasings, "prose_questions_at_most": knobs.prose_questions,
                                "note": "the base writes these when :train runs; they add blocks and divide auto epochs "
                                        "by the square root of how often each answer then repeats"}
        if base is not None:
            guess = estimate(plan, base.path)
            entry["estimated_peak_gib"] = round(guess.peak_bytes / GIB, 2)
            entry["trainable_params"] = guess.trainable_params
            memory = available_memory(device.device)
            if memory is not None and guess.peak_bytes > memory:
                refusals.append(f"adapter '{name}' needs about {guess.peak_bytes / GIB:.1f} GiB, {memory / GIB:.1f} GiB free: "
                                "lower training.micro_batch_size or training.sequence_len")
        if plan.kind == "qlora" and device.device == "cpu":
            entry["note"] = "qlora on CPU trains but is slower than lora; it saves memory only"
        entry["preference"] = _preference_plan(project, name)
        adapters[name] = entry
    return {"document": str(doc), "base": base.key if base else project.doc.config.base_model,
            "device": device.as_dict(), "adapters": adapters, "refusals": refusals}


def resolved_base_or_refusal(project, refusals: list[str]):
    """The resolved base, or None with a refusal saying why (not materialized yet, or missing):
    the report goes on without the figures that need it."""
    try:
        return project.base()
    except Exception as exc:
        refusals.append(f"base: {exc} (run 'dlm build {project.doc.path}' to resolve it)")
        return None


def _preference_plan(project, name: str) -> dict | None:
    """The preference phase's plan for ``name`` (None when it has none), as ``:prefer`` will run it."""
    from dlmbuild.rules.prefer import has_phase, include_mined, triples_for
    from dlmbuild.train.preference_plan import make_preference_plan

    if not has_phase(project, name):
        return None
    hand, mined = triples_for(project, name)
    pairs = hand + (mined if include_mined(project) else 0)
    plan = make_preference_plan(project.doc.config.training, name, pairs).as_dict()
    return plan | {"hand_written": hand, "mined": mined,
                   "reference": f":train-{name} (frozen)" if plan["method"] == "dpo" else None}


def _blocks(project, lock, name: str) -> tuple[int, str]:
    entry = lock.targets.get(f":data-{name}") if lock else None
    seq = project.doc.config.training.sequence_len
    if entry is not None and all(c in "0123456789abcdef" for c in entry.key) and len(entry.key) == 32:
        from dlmbuild.engine.actioncache import ActionCache
        from dlmbuild.rules.train import read_rows
        from dlmbuild.train.packing import pack

        try:
            rows = read_rows(ActionCache(project.layout.actions, project.filestate).entry_dir(entry.key) / "out")
            return len(pack(rows, seq)), "last build"
        except (ValueError, OSError):  # no output any more, or rows longer than a since-lowered sequence_len
            pass
    chars = sum(len(s.text) for s in project.doc.sections if name in s.adapters)
    return max(1, math.ceil(chars / 4 / seq)), "estimate from document length"


def doctor(
    doc: Path = typer.Argument(None, help="A .dlm document to plan (optional)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Show the training plan and what this machine can do."""
    from dlmbuild.store.layout import dlm_home

    home = dlm_home()
    report = {"schema": "dlm.doctor/1", "machine": machine_report(home)}
    if doc is not None:
        report["document"] = document_report(doc, home)
    if as_json:
        typer.echo(json.dumps(report, indent=1, sort_keys=True))
    else:
        _print(report)
    refusals = report["machine"]["refusals"] + (report.get("document", {}).get("refusals", []))
    if refusals:
        raise typer.Exit(3)


def remotes_report(home: Path) -> list[dict]:
    from dlmbuild.remote.status import remotes_report as report

    return report(home)


def export_toolchain() -> str:
    from dlmbuild.export.toolchain import describe

    return describe()


def cpu_report() -> dict:
    """The CPU features llama.cpp's kernels dispatch on, and those the installed llama.cpp was
    compiled with (None when it cannot be asked): an AMX CPU with an AMX build is the crash of
    llama.cpp issue 20824."""
    from dlmbuild.errors import DlmError
    from dlmbuild.export.cpu import reported_features
    from dlmbuild.export.toolchain import runtime_features

    try:
        built = runtime_features()
        compiled = {"AVX2": built.get("AVX2", False), "AVX-512": built.get("AVX512", False),
                    "AVX-512 BF16": built.get("AVX512_BF16", False), "AMX": built.get("AMX_INT8", False)}
    except DlmError:
        compiled = None
    return {"cpu": reported_features(), "llama_cpp": compiled}


def _features(flags: dict[str, bool]) -> str:
    return ", ".join(name if on else f"no {name}" for name, on in flags.items())


def _print(report: dict) -> None:
    machine = report["machine"]
    device = machine["device"]
    out = sys.stdout.write
    out(f"device        {device['device']} ({device['threads']} threads), autocast {device['autocast'] or 'off (float32)'}\n")
    out(f"determinism   {device['determinism']}; machine class {device.get('machine_class') or 'unknown'} "
        f"(dlm verify compares bytes within a class, behaviour across)\n")
    out(f"memory free   {machine['memory_free_gib']} GiB; disk free {machine['disk_free_gib']} GiB in {machine['home']}\n")
    base = machine["embedded_base"]
    out(f"embedded base smollm2-135m {'installed' if base['installed'] else 'NOT installed'}"
        f"{', converted' if base['converted'] else ', not converted yet (first build converts it, ~25 s)'}\n")
    out(f"qlora         {machine['qlora']}\n")
    out(f"export        {machine['export']}\n")
    cpu = machine["cpu"]
    out(f"cpu           {_features(cpu['cpu']) if any(cpu['cpu'].values()) else 'features unknown'}; llama.cpp built with "
        f"{_features(cpu['llama_cpp']) if cpu['llama_cpp'] is not None else 'unknown (toolchain not loadable)'}\n")
    out("toolchain     " + ", ".join(f"{k} {v}" for k, v in machine["toolchain"].items() if v != "absent") + "\n")
    for row in machine.get("remotes") or []:
        flags = "".join([" (default" + (", upload)" if row.get("upload") else ")") if row.get("default") else "",
                         "" if row.get("writable", True) else " read-only"])
        state = "answers" if row["answers"] else f"does NOT answer: {row['reason']}"
        out(f"remote        {row['name']} {row['url']}{flags}: {state}\n")
    document = report.get("document")
    if document:
        out(f"\n{document['document']} on {document['base']}\n")
        for name, entry in document["adapters"].items():
            if "plan" not in entry:  # a vision, speech or audio base (cli/doctor_media.py)
                media = (f"{entry['images_per_step']} images per step, {entry['image_tokens']} tokens per image"
                         if entry["modality"] == "vision" else f"{entry['clips_per_step']} clips per step")
                out(f"  {name}: {entry['modality']} lora r={entry['r']} alpha={entry['alpha']}, {entry['examples']} examples, "
                    f"{media}, {entry['steps']} steps, lr {entry['learning_rate']}"
                    + (f", ~{entry['estimated_peak_gib']} GiB peak" if "estimated_peak_gib" in entry else "") + "\n")
                continue
            plan = entry["plan"]
            out(f"  {name}: {plan['kind']} r={plan['r']} alpha={plan['alpha']:g}, {plan['blocks']} blocks x {plan['sequence_len']} "
                f"({entry['blocks_from']}), batch {plan['micro_batch']} x accum {plan['grad_accum']}, "
                f"{plan['epochs']} epochs = {plan['steps']} steps, lr {plan['learning_rate']:g}")
            if plan.get("check_from"):
                out(f", stops once every answer is reproduced (checked from step {plan['check_from']})")
            if "estimated_peak_gib" in entry:
                out(f", ~{entry['estimated_peak_gib']} GiB peak, {entry['trainable_params']:,} trainable params")
            out("\n")
            if "augment" in entry:
                knobs = entry["augment"]
                out(f"  {name} first: the base writes up to {knobs['rephrasings_per_question']} rewordings of each question and "
                    f"questions from up to {knobs['prose_questions_at_most']} prose sentences (more blocks, fewer epochs than above)\n")
            pref = entry.get("preference")
            if pref:
                out(f"  {name} then {pref['method'].upper()} beta {pref['beta']:g} on {pref['pairs']} pairs "
                    f"({pref['hand_written']} hand-written, {pref['mined']} mined), {pref['epochs']} epochs = {pref['steps']} steps, "
                    f"lr {pref['learning_rate']:g}" + (f", reference {pref['reference']}" if pref["reference"] else "") + "\n")
    for refusal in machine["refusals"] + (document or {}).get("refusals", []):
        out(f"REFUSED       {refusal}\n")
