"""``:data-<adapter>`` and ``:train-<adapter>``: an adapter's training rows, then the adapter.

``:data-<name>`` is cheap: it picks the rows routed to the adapter out of ``:tokenize`` and mixes
in a deterministic sample of the replay corpus (section versions trained before and no longer in
the document). It exists so that each adapter's training key depends on its own rows only: an
edit routed to ``tone`` rebuilds ``:data-knowledge`` to identical bytes, and early cutoff keeps
``:train-knowledge`` cached.

``:train-<name>`` is heavy: it packs the rows, resolves the plan and trains from the base
(hermetic: the adapter depends on the document, the replay sample, the base and the seed, never
on the previous version, so ``dlm verify`` can rebuild it from scratch and compare bytes). The
base is loaded once per process and shared by every adapter of the build. On success the output
is published as the adapter's next version and the sections it trained on join the replay corpus.
"""

from __future__ import annotations

import json
from pathlib import Path

from dlmbuild.document.sections import SectionType
from dlmbuild.document.sources import source_adapters
from dlmbuild.engine.hashing import hash_json
from dlmbuild.engine.target import ActionContext, Target
from dlmbuild.errors import DocumentError, Location
from dlmbuild.rules import tokenize
from dlmbuild.rules.support import BaseInputs, machine_of, toolchain_of

DATA_VERSION = 2  # 2: Q/A rows carry their text ("pair") for training.augment
# 2: training stops once every answer is reproduced (train/reproduce.py); 3: probes.json;
# 4: the base's own rewordings and prose questions (training.augment, rules/train_augment.py);
# 5: their sampler reads each prompt once, and a rewording may not bring in a number of its own
TRAIN_VERSION = 5
ROWS = "rows.jsonl"
DATA_SUMMARY = "data.json"
TRAIN_SUMMARY = "dlm-train.json"
# Not ``precision``: what it resolves to on this machine is in the key's machine component
# (``train/machine_class.py``), so ``auto`` and ``bf16`` on a bf16 CPU share one adapter, and
# the same recipe has the same basis on every class.
PLAN_KEYS = ("adapter", "lora_r", "lora_alpha", "lora_dropout", "target_modules", "sequence_len", "micro_batch_size",
             "grad_accum", "learning_rate", "num_epochs", "max_steps", "lr_scheduler", "warmup_ratio", "optimizer", "seed")


def targets(project) -> list[Target]:
    """``:data-<name>`` and ``:train-<name>`` for every declared adapter, in declaration order."""
    out = []
    for name in project.doc.config.training.adapter_names:
        out += [data_target(project, name), train_target(project, name)]
    return out


def replay_enabled(project) -> bool:
    """Whether this build mixes replayed rows in: the document enables it and the command line
    did not say ``--no-replay``. Part of ``:data-<name>``'s config slice, so the two builds
    are cached apart."""
    return project.doc.config.training.replay.enabled and project.options.get("replay", True)


def current_ids(project, adapter: str) -> set[str]:
    """Replay identities of what the document trains ``adapter`` on now (no tokenizing)."""
    ids = {f"section:{s.id}" for s in project.doc.sections if adapter in s.adapters}
    names = project.doc.config.training.adapter_names
    for file in project.sources.files:
        if adapter in source_adapters(file, names):
            ids.add(f"file:{project.source_hashes[file.relpath]}")
    return ids


def corpus(project, adapter: str):
    """The replay corpus of ``adapter``: every section version it was trained on, kept in the
    store so an edit or removal can still be replayed (``train/replay.py``)."""
    from dlmbuild.train.replay import ReplayCorpus

    return ReplayCorpus(project.layout.replay, adapter)


def data_target(project, name: str) -> Target:
    """``:data-<name>``. Its inputs include a hash of the stale replay identities, so a section
    edited away adds a replay candidate (and changes the rows) even though ``:tokenize``'s
    output for the current document is what it was."""
    config = project.doc.config

    def inputs() -> dict[str, str]:
        from dlmbuild.train.replay import stale_ids

        named = dict(BaseInputs(project).tokenizer())
        if replay_enabled(project):
            named["replay:stale"] = hash_json(stale_ids(corpus(project, name).ids(), current_ids(project, name)))
        return named

    return Target(
        name=f":data-{name}", rule="data", version=DATA_VERSION, action=lambda ctx: build_data(ctx, name),
        deps=(":tokenize",),
        config={"adapter": name, "replay": config.training.replay.model_dump(mode="json") | {"enabled": replay_enabled(project)},
                "seed": config.training.seed, "system_prompt": config.system_prompt,
                "training.sequence_len": config.training.sequence_len, "loss_mask": tokenize.LOSS_MASK_MODE},
        inputs=inputs, toolchain=lambda: toolchain_of("tokenizers", "jinja2"),
        description=f"training rows of adapter '{name}' (with replay)",
    )


def train_target(project, name: str) -> Target:
    """``:train-<name>``, heavy (one at a time). Its config slice is the plan's keys and the
    adapter's own block, plus the process count under ``--gpus N`` (N times the batch is
    another adapter); its inputs are the base's weights and the anchor text, not the previous
    version, which keeps training hermetic."""
    training = project.doc.config.training
    spec = training.adapters.get(name) if training.adapters else None
    kind = (spec.adapter if spec and spec.adapter else training.adapter)

    def toolchain() -> dict[str, str]:
        return toolchain_of("torch", "transformers", "peft", *(("bitsandbytes",) if kind == "qlora" else ()))

    return Target(
        name=f":train-{name}", rule="train", version=TRAIN_VERSION, action=lambda ctx: train(ctx, name),
        deps=(f":data-{name}",),
        config={"adapter_name": name, "training": {k: getattr(training, k) for k in PLAN_KEYS},
                "adapter": spec.model_dump(mode="json", exclude_none=True) if spec else {},
                "anchor": training.anchor.model_dump(mode="json"),
                "augment": training.augment.model_dump(mode="json"),
                # data-parallel steps see N times the batch: a different adapter, so a different key
                **({"processes": project.options["gpus"]} if project.options.get("gpus", 1) > 1 else {})},
        inputs=lambda: train_inputs(project), toolchain=toolchain, machine=machine_of(training.precision),
        heavy=True, description=f"train {kind.upper()} adapter '{name}'", unavailable=precision_refusal(project, name),
        publish=lambda key, out: publish(project, name, key, out),
    )


def precision_refusal(project, name: str) -> str:
    """Why ``:train-<name>`` cannot be built on this machine ('' when it can): ``fp16`` asks for
    float16 autocast, which only CUDA gives here. Training in float32 instead would ignore the
    setting, so the target is refused before anything runs, pointing at the line."""
    training = project.doc.config.training
    if training.precision != "fp16":
        return ""
    from dlmbuild.train.machine_class import current_class

    if current_class("fp16").device == "cuda":
        return ""
    where = config_location(project, "training", "precision")
    return (f":train-{name} cannot be built here: {where}: training.precision fp16 needs a CUDA device, and this "
            f"machine trains on CPU (use bf16 or fp32, or auto)")


def train_inputs(project) -> dict[str, str]:
    """What ``:train-<name>`` reads besides its rows: the base's weights and, when the anchor is
    on, the built-in anchor text (a new dlm with other anchor text must retrain)."""
    named = BaseInputs(project).weights()
    if project.doc.config.training.anchor.enabled:
        from dlmbuild.train.anchor import anchor_hash

        named["anchor:text"] = anchor_hash()
    return named


# -- :data-<name> ----------------------------------------------------------------------------

def build_data(ctx: ActionContext, name: str) -> None:
    """The ``:data-<name>`` action: the adapter's rows from ``:tokenize`` (preference rows are
    left to the preference phase) plus a seeded sample of stale replayed sections, written as
    ``rows.jsonl`` with a summary. An adapter with nothing to train is refused here, with the
    document's location, rather than training on nothing."""
    from dlmbuild.train.replay import record_section, replay_budget, sample, stale_ids

    project = ctx.project
    config = project.doc.config
    entries = [e for e in tokenize.read_index(ctx.dep_outputs[":tokenize"]) if name in e["adapters"]
               and e["type"] != SectionType.PREFERENCE.value]
    rows = tokenize.rows_for(project, [e["key"] for e in entries])
    replayed: list[str] = []
    replay_rows: list[dict] = []
    if replay_enabled(project):
        records = corpus(project, name).records()
        trainable = {i for i, r in records.items() if r["type"] != SectionType.PREFERENCE.value}
        stale = stale_ids(trainable, current_ids(project, name))
        knobs = config.training.replay
        replayed = sample(stale, replay_budget(len(rows), knobs.fraction, knobs.max_rows, len(stale)), config.training.seed)
        for identity in replayed:
            section = record_section(records[identity], name)
            replay_rows += tokenize.memo_rows(project, identity, section)
    if not rows and not replay_rows:
        raise DocumentError(f"adapter '{name}' has nothing to train: add prose or ::instruction:: sections routed to it",
                            Location(project.doc.path, 1, 1))
    with open(ctx.out_dir / ROWS, "w", encoding="utf-8") as out:
        for row in rows + replay_rows:
            out.write(json.dumps({k: row[k] for k in ("input_ids", "loss_mask", "pair") if k in row}, separators=(",", ":")) + "\n")
    summary = {"adapter": name, "sections": len(entries), "rows": len(rows), "replay_sections": replayed,
               "replay_rows": len(replay_rows), "tokens": sum(len(r["input_ids"]) for r in rows + replay_rows)}
    (ctx.out_dir / DATA_SUMMARY).write_text(json.dumps(summary, sort_keys=True, indent=1) + "\n", encoding="utf-8")
    ctx.log(f":data-{name}: {len(rows)} rows from {len(entries)} sections, {len(replay_rows)} replayed rows")


def read_rows(folder: Path) -> list[dict]:
    """The rows a ``:data-<name>`` output holds, in order."""
    with open(Path(folder) / ROWS, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


# -- :train-<name> ---------------------------------------------------------------------------

def config_location(project, *keys: str) -> Location:
    """Where ``keys`` (e.g. ``training``, ``sequence_len``) sit in the frontmatter, so a refusal
    found at build time still points at the line to edit; line 1 when the key is not written."""
    _, node = project.doc.frontmatter.find(keys)
    if node is None:
        return Location(project.doc.path, 1, 1)
    return project.doc.frontmatter.location(project.doc.path, node.start_mark)


def check_sequence_len(project, base) -> None:
    """Refuse a ``sequence_len`` longer than the base's context window."""
    from dlmbuild.train.resources import read_config

    config = read_config(base.path)
    limit = config.get("max_position_embeddings") or config.get("n_positions")
    seq = project.doc.config.training.sequence_len
    if limit and seq > limit:
        raise DocumentError(f"training.sequence_len {seq} is longer than base '{base.key}' can take ({limit} tokens)",
                            config_location(project, "training", "sequence_len"))


def train(ctx: ActionContext, name: str) -> None:
    """The ``:train-<name>`` action: check the sequence length and resources, pack the rows,
    make the plan, then train here or across ``--gpus`` processes, logging every step to the
    metrics database (``train/recorded.py``: a cancel is recorded as such and leaves no output;
    torch's thread count is restored either way)."""
    from dlmbuild.train.device import deterministic_algorithms, pick_device
    from dlmbuild.train.packing import pack
    from dlmbuild.train.plan import make_plan
    from dlmbuild.train.probes import probe_set
    from dlmbuild.rules.train_augment import augmented_rows
    from dlmbuild.train.base_model import load_base
    from dlmbuild.train.recorded import recorded_run
    from dlmbuild.train.reproduce import answer_blocks, answer_rows
    from dlmbuild.train.resources import check_resources
    from dlmbuild.train.tokenizer import BaseTokenizer

    project = ctx.project
    training = project.doc.config.training
    base = project.base()
    check_sequence_len(project, base)
    rows_path = ctx.dep_outputs[f":data-{name}"] / ROWS
    rows = read_rows(rows_path.parent)
    answers = answer_blocks(rows, training.sequence_len)
    n_answers = sum(len(a.starts) for a in answers)
    processes = project.options.get("gpus", 1)
    device = pick_device(training.precision)
    # what a step needs does not depend on how many rows the base adds: refuse before loading
    first = make_plan(training, name, len(pack(rows, training.sequence_len)), world_size=processes, answers=n_answers)
    check_resources(first, device, base.path, project.layout.root)
    here = device.device if processes == 1 else "cpu"  # workers load their own; the parent only writes questions
    def model():  # loaded only when there is something to reword (cached: training reuses it)
        return load_base(base.path, here, qlora=first.kind == "qlora" and processes == 1, weights_hash=base.weights_hash)

    extra, augmented = augmented_rows(project, name, rows, model, here, ctx.out_dir,
                                      ctx.log if not project.options.get("quiet", False) else lambda line: None)
    if extra:
        rows_path = ctx.out_dir.parent / "rows-augmented.jsonl"
        with open(rows_path, "w", encoding="utf-8") as handle:
            for row in rows + extra:
                handle.write(json.dumps(row, separators=(",", ":")) + "\n")
    blocks = pack(rows + extra, training.sequence_len)
    plan = make_plan(training, name, len(blocks), world_size=processes, answers=n_answers,
                     repeats=1 + augmented["rephrasings"] / max(1, len(answer_rows(rows))))
    tokenizer = BaseTokenizer(base.path)
    pad_id = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
    anchor_weight = training.anchor.weight if training.anchor.enabled else 0.0
    where = f"{processes} processes" if processes > 1 else device.device
    ctx.log(f":train-{name}: {plan.kind} r={plan.r} on {len(blocks)} blocks x {plan.sequence_len}, {plan.steps} steps, "
            f"lr {plan.learning_rate:g}, {where} {device.autocast or 'float32'}")
    with recorded_run(project.layout.metrics, name, ctx.key, plan.as_dict() | device.as_dict() | {"processes": processes},
                      f"train-{name}", plan.steps, device.threads, quiet=project.options.get("quiet", False)) as record, \
            deterministic_algorithms(device):
        if processes > 1:
            record.stats = train_distributed(ctx, plan, device, base, rows_path, pad_id, anchor_weight, record.run, processes)
        else:
            record.stats = train_here(ctx, plan, device, base, blocks, tokenizer, pad_id, anchor_weight, record.on_step,
                                      answers if plan.check_from else None, probe_set(rows))
    stats = record.stats
    summary = {"adapter": name, "plan": plan.as_dict() | {"target_modules": stats["target_modules"]},
               "final_loss": stats["final_loss"], "trainable_params": stats["trainable_params"],
               "trained_tokens": stats["tokens"], "device": device.device, "autocast": device.autocast, "machine_class": device.machine_class,
               "anchor_weight": anchor_weight, "steps_done": stats["steps"], "reproduced": stats.get("reproduced"),
               "augment": augmented}
    (ctx.out_dir / TRAIN_SUMMARY).write_text(json.dumps(summary, sort_keys=True, indent=1) + "\n", encoding="utf-8")
    if stats.get("reproduced"):
        done, total = stats["reproduced"]
        budget = "" if done == total else f" (the budget of {plan.steps} steps ran out; dlm eval shows which)"
        ctx.log(f":train-{name}: {done}/{total} answers reproduced after {stats['steps']} steps{budget}")
    ctx.log(f":train-{name}: final loss {stats['final_loss']:.4f}, {stats['tokens_per_s']:.0f} tok/s, {stats['seconds']:.1f}s")


def train_here(ctx, plan, device, base, blocks, tokenizer, pad_id, anchor_weight, on_step, answers=None, probes=None) -> dict:
    """One process: the base is loaded once and shared by every adapter of the build."""
    from dlmbuild.train.base_model import load_base
    from dlmbuild.train.recipe import train_adapter

    model = load_base(base.path, device.device, qlora=plan.kind == "qlora", weights_hash=base.weights_hash)
    anchor = None
    if anchor_weight > 0:
        from dlmbuild.train.anchor import anchor_blocks

        anchor = anchor_blocks(tokenizer, plan.sequence_len)
    def on_check(step: int, reproduced: int, total: int) -> None:
        if not ctx.project.options.get("quiet", False):
            ctx.log(f":train-{plan.adapter}: step {step}: {reproduced}/{total} answers reproduced")

    return train_adapter(model, plan, device, blocks, pad_id, ctx.out_dir, base_key=base.key, on_step=on_step,
                         check_cancelled=ctx.check_cancelled, anchor=anchor, anchor_weight=anchor_weight,
                         answers=answers, on_check=on_check, probes=probes)


def train_distributed(ctx, plan, device, base, rows_path, pad_id, anchor_weight, run, processes) -> dict:
    """``--gpus N``: N data-parallel workers (train/distributed.py); rank 0 writes the adapter
    into this action's output folder and the steps into the metrics database."""
    from dlmbuild.errors import EnvironmentProblem
    from dlmbuild.train.distributed import check_gpus, run_distributed

    if plan.kind == "qlora":
        raise EnvironmentProblem(f"adapter: qlora trains on one device; use --gpus 1 (not --gpus {processes})")
    cuda = check_gpus(processes)
    workdir = ctx.out_dir.parent / "workers"
    spec = {"base_path": str(base.path), "base_key": base.key, "rows": str(rows_path), "plan": plan.as_dict(),
            "autocast": device.autocast, "anchor_weight": anchor_weight, "out_dir": str(ctx.out_dir), "pad_id": pad_id,
            "metrics": str(ctx.project.layout.metrics), "run": run, "workdir": str(workdir), "cpu": not cuda}
    return run_distributed(spec, processes, workdir, cuda=cuda, check_cancelled=ctx.check_cancelled)


def publish(project, name: str, key: str, out: Path) -> None:
    """Make this key's adapter current (unless a preference phase follows, whose output is
    what users get); when it is a new version, remember what it trained on."""
    from dlmbuild.store.versions import AdapterVersions
    from dlmbuild.train.replay import section_record

    versions = AdapterVersions(project.layout.adapters, name)
    current = versions.current()
    if current is not None and current.key == key:
        return
    # The corpus first, the pointer last: a crash in between leaves the old version current, and
    # the next publish (same key) appends again, idempotently, before moving the pointer.
    replay = corpus(project, name)
    known = replay.ids()
    records = [section_record(f"section:{s.id}", s) for s in project.doc.sections
               if name in s.adapters and f"section:{s.id}" not in known]
    names = project.doc.config.training.adapter_names
    from dlmbuild.document.sources import decode_text_file, source_section
    from dlmbuild.engine.hashing import hash_bytes

    for file in project.sources.files:
        identity = f"file:{project.source_hashes[file.relpath]}"
        if identity in known or name not in source_adapters(file, names):
            continue
        try:
            data = file.path.read_bytes()
        except OSError:  # removed since the build read it: nothing trustworthy to remember
            continue
        text = decode_text_file(data)
        # Edited during training: this text is not what the identity (its hash) trained on.
        if text is None or hash_bytes(data) != project.source_hashes[file.relpath]:
            continue
        records.append(section_record(identity, source_section(file, text, tuple(names))))
    replay.append(records)
    from dlmbuild.rules.prefer import final_target

    if final_target(project, name) == f":train-{name}":  # else the preference phase's output becomes current
        versions.publish(key, out)
