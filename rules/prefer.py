"""``:prefs-<adapter>`` and ``:prefer-<adapter>``: the preference phase after supervised training.

``:prefs-<name>`` is cheap: the tokenized ``::preference::`` triples routed to the adapter
(hand-written and ``auto-mined``; ``dlm train --no-mined`` leaves the mined ones out, a separate
key). ``:prefer-<name>`` is heavy: it starts from ``:train-<name>``'s adapter and trains it with
DPO (the SFT adapter, frozen, as reference) or ORPO (``train/prefer_recipe.py``). Its key holds
the SFT adapter's bytes (through the dependency), the triples, the method and its knobs: editing
a triple rebuilds ``:prefs`` and ``:prefer`` only (``:data`` rebuilds to the same bytes and early
cutoff keeps ``:train`` cached); editing an instruction retrains both phases.

An adapter gets the phase when ``training.preference`` (or its own ``preference`` block) is
enabled and the document routes at least one triple to it. Its output is then the adapter users
prompt and export: ``final_target`` names it, the ``:train`` alias and every export depend on
it, and only it moves the adapter's ``current`` pointer.
"""

from __future__ import annotations

import json

from dlmbuild.document.sections import SectionType
from dlmbuild.engine.target import ActionContext, Target
from dlmbuild.errors import DocumentError, Location
from dlmbuild.rules import tokenize
from dlmbuild.rules.support import BaseInputs, machine_of, toolchain_of

PREFS_VERSION = 1
PREFER_VERSION = 2  # 2: probes.json, the SFT adapter's probes on this one
PAIRS = "pairs.jsonl"
PREFS_SUMMARY = "prefs.json"
PREFER_SUMMARY = "dlm-train.json"  # the name export reads an adapter's kind from
MINED = "auto-mined"
PHASES = ("all", "sft", "preference")


def include_mined(project) -> bool:
    return project.options.get("mined", True)


def is_mined(section) -> bool:
    return section.provenance is not None and section.provenance.kind == MINED


def triples_for(project, name: str) -> tuple[int, int]:
    """(hand-written, mined) triples the document routes to ``name``."""
    hand = mined = 0
    for section in project.doc.sections:
        if section.type is SectionType.PREFERENCE and name in section.adapters:
            if is_mined(section):
                mined += len(section.triples)
            else:
                hand += len(section.triples)
    return hand, mined


def has_phase(project, name: str) -> bool:
    """Whether ``name`` gets a ``:prefer`` target: enabled, with triples to train on."""
    from dlmbuild.train.preference_plan import preference_enabled

    if not preference_enabled(project.doc.config.training, name):
        return False
    hand, mined = triples_for(project, name)
    return hand + (mined if include_mined(project) else 0) > 0


def final_target(project, name: str) -> str:
    """The target whose output is adapter ``name`` as users prompt and export it."""
    if project.options.get("phase", "all") != "sft" and has_phase(project, name):
        return f":prefer-{name}"
    return f":train-{name}"


def targets(project) -> list[Target]:
    out = []
    for name in project.doc.config.training.adapter_names:
        if has_phase(project, name):
            out += [prefs_target(project, name), prefer_target(project, name)]
    return out


def check_phase_request(project, phase: str, adapter: str | None) -> None:
    """``dlm train --phase preference`` on an adapter without the phase: one located line (exit
    2), before anything builds."""
    from dlmbuild.rules.train import config_location
    from dlmbuild.train.preference_plan import preference_enabled

    if phase != "preference":
        return
    training = project.doc.config.training
    for name in [adapter] if adapter else training.adapter_names:
        if not preference_enabled(training, name):
            raise DocumentError(f"--phase preference: preference training is off for adapter '{name}'; "
                                "set training.preference.enabled: true", config_location(project, "training", "preference"))
        hand, mined = triples_for(project, name)
        if not hand + (mined if include_mined(project) else 0):
            what = "hand-written ::preference:: triples (--no-mined leaves the mined ones out)" if mined else "::preference:: triples"
            raise DocumentError(f"--phase preference: adapter '{name}' has no {what}", Location(project.doc.path, 1, 1))


def prefs_target(project, name: str) -> Target:
    config = project.doc.config
    return Target(
        name=f":prefs-{name}", rule="prefs", version=PREFS_VERSION, action=lambda ctx: build_prefs(ctx, name),
        deps=(":tokenize",),
        config={"adapter": name, "mined": include_mined(project), "system_prompt": config.system_prompt,
                "training.sequence_len": config.training.sequence_len},
        inputs=lambda: dict(BaseInputs(project).tokenizer()), toolchain=lambda: toolchain_of("tokenizers", "jinja2"),
        description=f"preference pairs of adapter '{name}'",
    )


def prefer_target(project, name: str) -> Target:
    from dlmbuild.rules.train import train_inputs
    from dlmbuild.train.preference_plan import preference_settings

    training = project.doc.config.training
    settings = preference_settings(training, name)
    return Target(
        name=f":prefer-{name}", rule="prefer", version=PREFER_VERSION, action=lambda ctx: prefer(ctx, name),
        deps=(f":train-{name}", f":prefs-{name}"),
        config={"adapter_name": name, "preference": settings.model_dump(mode="json"),
                # precision: resolved, in the machine component
                "training": {k: getattr(training, k) for k in ("micro_batch_size", "grad_accum", "optimizer", "seed")},
                "anchor": training.anchor.model_dump(mode="json")},
        inputs=lambda: train_inputs(project), toolchain=lambda: toolchain_of("torch", "transformers", "peft"), heavy=True,
        machine=machine_of(training.precision), description=f"{settings.method.upper()} on adapter '{name}'",
        publish=lambda key, out: publish(project, name, key, out),
    )


def mined_ids(project) -> set[str]:
    return {s.id for s in project.doc.sections if is_mined(s)}


def build_prefs(ctx: ActionContext, name: str) -> None:
    """The ``:prefs-<name>`` action: the tokenized triples, each one longer than
    ``sequence_len`` refused at its line."""
    project = ctx.project
    seq = project.doc.config.training.sequence_len
    mined_sections = mined_ids(project)
    skip = set() if include_mined(project) else mined_sections
    entries = [e for e in tokenize.read_index(ctx.dep_outputs[":tokenize"]) if name in e["adapters"]
               and e["type"] == SectionType.PREFERENCE.value and e["id"] not in skip]
    by_id = {s.id: s for s in project.doc.sections}
    pairs, mined = [], 0
    for entry in entries:
        rows = tokenize.rows_for(project, [entry["key"]])
        section = by_id.get(entry["id"])
        for index, row in enumerate(rows):
            longest = len(row["prompt_ids"]) + max(len(row["chosen_ids"]), len(row["rejected_ids"]))
            if longest > seq:
                line = section.triples[index].line if section is not None else entry.get("line", 1)
                raise DocumentError(f"preference triple is {longest} tokens, longer than training.sequence_len {seq}; "
                                    "shorten it or raise sequence_len", Location(project.doc.path, line, 1))
            pairs.append({k: row[k] for k in ("prompt_ids", "chosen_ids", "rejected_ids")})
        mined += len(rows) if entry["id"] in mined_sections else 0
    with open(ctx.out_dir / PAIRS, "w", encoding="utf-8") as out:
        for pair in pairs:
            out.write(json.dumps(pair, separators=(",", ":")) + "\n")
    summary = {"adapter": name, "pairs": len(pairs), "mined": mined, "hand_written": len(pairs) - mined}
    (ctx.out_dir / PREFS_SUMMARY).write_text(json.dumps(summary, sort_keys=True, indent=1) + "\n", encoding="utf-8")
    ctx.log(f":prefs-{name}: {len(pairs)} preference pairs ({mined} mined)")


def read_pairs(folder) -> list[dict]:
    with open(folder / PAIRS, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def prefer(ctx: ActionContext, name: str) -> None:
    """The ``:prefer-<name>`` action: DPO or ORPO from the SFT adapter, then a summary that
    keeps the SFT one's plan (export reads the adapter's kind from it)."""
    from dlmbuild.rules.train import TRAIN_SUMMARY
    from dlmbuild.train.base_model import load_base
    from dlmbuild.train.device import pick_device
    from dlmbuild.train.prefer_recipe import train_preference
    from dlmbuild.train.preference_plan import make_preference_plan
    from dlmbuild.train.probes import probe_adapter, probes_of, read_probes, write_probes
    from dlmbuild.train.recorded import recorded_run
    from dlmbuild.train.tokenizer import BaseTokenizer

    project = ctx.project
    training = project.doc.config.training
    base = project.base()
    sft_dir = ctx.dep_outputs[f":train-{name}"]
    sft_summary = json.loads((sft_dir / TRAIN_SUMMARY).read_text(encoding="utf-8"))
    pairs = read_pairs(ctx.dep_outputs[f":prefs-{name}"])
    plan = make_preference_plan(training, name, len(pairs))
    device = pick_device(training.precision)
    tokenizer = BaseTokenizer(base.path)
    pad_id = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
    anchor_weight = training.anchor.weight if training.anchor.enabled else 0.0
    anchor = None
    if anchor_weight > 0:
        from dlmbuild.train.anchor import anchor_blocks

        anchor = anchor_blocks(tokenizer, training.sequence_len)
    ctx.log(f":prefer-{name}: {plan.method.upper()} beta {plan.beta:g} on {plan.pairs} pairs, {plan.steps} steps, "
            f"lr {plan.learning_rate:g}" + (", reference: the SFT adapter (frozen)" if plan.method == "dpo" else ""))
    with recorded_run(project.layout.metrics, name, ctx.key, plan.as_dict() | device.as_dict() | {"phase": "preference"},
                      f"prefer-{name}", plan.steps, device.threads, quiet=project.options.get("quiet", False)) as record:
        model = load_base(base.path, device.device, qlora=sft_summary["plan"]["kind"] == "qlora", weights_hash=base.weights_hash)
        record.stats = train_preference(model, plan, device, pairs, sft_dir, ctx.out_dir, base_key=base.key, pad_id=pad_id,
                                        on_step=record.on_step, check_cancelled=ctx.check_cancelled, anchor=anchor,
                                        anchor_weight=anchor_weight)
        sft_probes = read_probes(sft_dir)
        if sft_probes:  # the same probes as the SFT adapter's, on the adapter this phase made
            write_probes(ctx.out_dir, probe_adapter(model, ctx.out_dir, probes_of(sft_probes), device.device))
    stats = record.stats
    summary = sft_summary | {"phase": "preference", "preference": plan.as_dict(), "preference_final_loss": stats["final_loss"],
                             "margin": {"first_step": stats["first_margin"], "last_step": stats["final_margin"]},
                             "preference_steps_done": stats["steps"], "device": device.device, "autocast": device.autocast}
    (ctx.out_dir / PREFER_SUMMARY).write_text(json.dumps(summary, sort_keys=True, indent=1) + "\n", encoding="utf-8")
    word = "reward margin" if plan.method == "dpo" else "log odds ratio"
    ctx.log(f":prefer-{name}: final loss {stats['final_loss']:.4f}, {word} {stats['first_margin']:+.3f} -> "
            f"{stats['final_margin']:+.3f}, {stats['seconds']:.1f}s")


def publish(project, name: str, key: str, out) -> None:
    from dlmbuild.store.versions import AdapterVersions

    AdapterVersions(project.layout.adapters, name).publish(key, out, meta={"phase": "preference"})
