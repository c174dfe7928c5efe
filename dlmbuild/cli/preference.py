"""``dlm preference mine|list|apply|revert``: preference triples mined from the adapter itself.

``mine`` checks the judge and the adapter before anything loads (mining before any training
says to run ``dlm build``), samples each instruction prompt N times from the current adapter,
judges the samples and stages (best, worst) pairs whose margin reaches ``--threshold``;
``--apply`` writes them at once as ``::preference::`` sections with ``auto-mined`` provenance.
Nothing is written until every prompt is judged: a judge failure or Ctrl-C leaves the document
and the stage as they were. The pipeline lives in dlmbuild/mine/.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import typer

from dlmbuild.cli.generated import Counter, apply_generated, revert_generated
from dlmbuild.errors import UsageError

preference_app = typer.Typer(help="Mine preference triples from the current adapter; stage, apply, revert.",
                             no_args_is_help=True, add_completion=False)


@preference_app.command("mine")
def mine_command(
    doc: Path = typer.Argument(..., help="The .dlm document."),
    samples: int = typer.Option(4, "--samples", help="Answers sampled per instruction prompt."),
    max_pairs: int = typer.Option(None, "--max-pairs", help="Keep at most this many triples this run."),
    judge: str = typer.Option("self", "--judge", help="self | hf:PATH (a reward model) | cli:COMMAND"),
    threshold: float = typer.Option(0.5, "--threshold", help="Minimum judge margin between best and worst."),
    temp: float = typer.Option(0.8, "--temp", help="Sampling temperature (must be > 0: samples have to differ)."),
    top_p: float = typer.Option(0.95, "--top-p"),
    max_new_tokens: int = typer.Option(96, "--max-new-tokens", min=8, max=4096),
    seed: int = typer.Option(0, "--seed"),
    adapter: str = typer.Option(None, "--adapter", "-a", help="Which adapter (required when the document declares several)."),
    apply: bool = typer.Option(False, "--apply", help="Write the triples into DOC now instead of staging them."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Sample the adapter on its own prompts, judge the samples, stage (best, worst) triples."""
    from dlmbuild.errors import EXIT_BAD_INPUT
    from dlmbuild.infer.generate import Sampling
    from dlmbuild.infer.session import choose_adapter, current_version
    from dlmbuild.mine.judges import check_judge, open_judge, parse_judge
    from dlmbuild.mine.run import MineSettings, existing_prompts, instruction_prompts, mine
    from dlmbuild.mine.stage import MineStage, write_stage
    from dlmbuild.project import Project
    from dlmbuild.synth.teachers.local import open_self

    if samples < 2:
        raise UsageError(f"--samples {samples}: mining compares answers; sample at least 2")
    if temp <= 0:
        raise UsageError(f"--temp {temp:g}: greedy answers are all the same; give a temperature above 0")
    if max_pairs is not None and max_pairs < 1:
        raise UsageError(f"--max-pairs {max_pairs}: keep at least 1 triple (or leave it out)")
    spec = parse_judge(judge)
    check_judge(spec)
    data = doc.read_bytes()
    project = Project.open(doc, materialize_base=True)
    name = choose_adapter(project, adapter)
    current_version(project, name, run="build", exit_code=EXIT_BAD_INPUT)
    prompts = instruction_prompts(project.doc.sections, name)
    if not prompts:
        raise UsageError(f"adapter '{name}' has no ::instruction:: prompts to mine from")
    settings = MineSettings(samples, threshold, max_pairs,
                            Sampling(max_new_tokens=max_new_tokens, temperature=temp, top_p=top_p, seed=seed))
    policy = open_self(project, name)
    system = project.doc.config.system_prompt or ""
    scorer = policy if spec.scheme == "self" else None
    judge_obj = open_judge(spec, scorer)
    progress = Counter("mine", len(prompts))
    try:
        triples, report = mine(prompts, lambda q, s: policy.complete(system, q, s), judge_obj, settings,
                               existing_prompts(project.doc.sections), progress.step)
    finally:
        progress.close()
        policy.close()
    run = hashlib.sha256(json.dumps([hashlib.sha256(data).hexdigest(), spec.label, samples, threshold, max_pairs, temp,
                                     top_p, max_new_tokens, seed]).encode()).hexdigest()[:16]
    stage = MineStage(run, spec.label, hashlib.sha256(data).hexdigest(),
                      {"samples": samples, "threshold": threshold, "temp": temp, "top_p": top_p, "seed": seed, "adapter": name},
                      triples)
    if as_json:
        print(json.dumps({"report": report.__dict__, "run": run, "triples": [t.__dict__ for t in triples], "applied": apply},
                         indent=2, ensure_ascii=False))
    else:
        print(report.line())
        for t in triples:
            print(f"  prompt: {t.prompt}\n  chosen: {t.chosen[:100]}\n  rejected: {t.rejected[:100]}  (margin {t.margin:.3f})")
    route = name if len(project.doc.config.training.adapter_names) > 1 else None
    if apply:
        _apply(project.doc, stage, route, quiet=as_json)
    else:
        write_stage(project.layout.root, stage)
        if not as_json:
            print(f"staged {len(triples)} triple(s) as run {run}; 'dlm preference apply {doc}' writes them")


def _apply(document, stage, route, quiet: bool = False) -> None:
    from dlmbuild.mine.writeback import applied_text

    apply_generated(document, len(stage.triples), lambda: applied_text(document, stage, route),
                    f"wrote {len(stage.triples)} triple(s) of run {stage.run}", quiet)


@preference_app.command("list")
def list_command(doc: Path = typer.Argument(..., help="The .dlm document."), as_json: bool = typer.Option(False, "--json")) -> None:
    """Show staged triples and the mined sections already in the document."""
    from dlmbuild.mine.stage import read_stage
    from dlmbuild.mine.writeback import mined_sections
    from dlmbuild.project import Project

    project = Project.open(doc)
    stage = read_stage(project.layout.root)
    applied = mined_sections(project.doc)
    if as_json:
        print(json.dumps({"staged": None if stage is None else stage.as_dict(),
                          "applied": [{"id": s.id, "line": s.line, **s.provenance.as_dict(), "triples": len(s.triples)}
                                      for s in applied]}, indent=2, ensure_ascii=False))
        return
    print("staged: none" if stage is None or not stage.triples else
          f"staged: {len(stage.triples)} triple(s), run {stage.run}, judge {stage.judge}")
    for t in stage.triples if stage else []:
        print(f"  prompt: {t.prompt}  (margin {t.margin:.3f})")
    print(f"applied: {sum(len(s.triples) for s in applied)} triple(s) in {len(applied)} section(s)")
    for section in applied:
        fields = section.provenance.as_dict()
        print(f"  {doc.name}:{section.line}  run {fields.get('run', '?')}  judge {fields.get('judge', '?')}  {len(section.triples)} triple(s)")


@preference_app.command("apply")
def apply_command(doc: Path = typer.Argument(..., help="The .dlm document.")) -> None:
    """Write the staged triples into the document (refused if it changed since staging)."""
    from dlmbuild.mine.stage import clear_stage, read_stage
    from dlmbuild.project import Project

    project = Project.open(doc)
    stage = read_stage(project.layout.root)
    if stage is None:
        raise UsageError(f"nothing is staged for {doc.name}; run 'dlm preference mine {doc}' first")
    if hashlib.sha256(doc.read_bytes()).hexdigest() != stage.document_sha256:
        raise UsageError(f"{doc} changed since these triples were staged; run 'dlm preference mine' again")
    names = project.doc.config.training.adapter_names
    _apply(project.doc, stage, None if len(names) == 1 else stage.settings.get("adapter"))
    clear_stage(project.layout.root)


@preference_app.command("revert")
def revert_command(doc: Path = typer.Argument(..., help="The .dlm document."),
                   run: str = typer.Option(None, "--run", help="Remove only this run's sections.")) -> None:
    """Remove the mined (auto-mined) sections; hand-written triples stay byte for byte."""
    from dlmbuild.mine.writeback import revert_text

    revert_generated(doc, run, revert_text, "mined")
