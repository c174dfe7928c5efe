"""``dlm synth instructions|list|apply|revert``: Q/A pairs written by a teacher from the prose.

``instructions`` checks everything it can before a model loads or a request is sent (the
teacher's scheme, path and key, the options, the adapter), prints the plan, asks the teacher,
filters, prints the filter report, and stages the accepted pairs in the store (``--apply``:
writes them into the document at once). Ctrl-C before the end leaves the document and the stage
as they were: nothing is written until every reply is in. The pipeline lives in
dlmbuild/synth/.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import typer

from dlmbuild.cli.generated import Counter, apply_generated, revert_generated
from dlmbuild.errors import UsageError

synth_app = typer.Typer(help="Synthesize Q/A pairs from the document's prose with a teacher model.",
                        no_args_is_help=True, add_completion=False)


def check_options(strategy: str, filter_name: str, per_section: int, max_pairs: int | None, temp: float, top_p: float) -> None:
    from dlmbuild.synth.prompts import STRATEGIES
    from dlmbuild.synth.run import FILTERS
    from dlmbuild.util.suggest import did_you_mean

    if strategy not in STRATEGIES:
        raise UsageError(f"unknown --strategy '{strategy}'{did_you_mean(strategy, STRATEGIES)}; choose from {', '.join(STRATEGIES)}")
    if filter_name not in FILTERS:
        raise UsageError(f"unknown --filter '{filter_name}'{did_you_mean(filter_name, FILTERS)}; choose from {', '.join(FILTERS)}")
    if per_section < 1:
        raise UsageError(f"--per-section {per_section}: ask for at least 1 pair per section")
    if max_pairs is not None and max_pairs < 1:
        raise UsageError(f"--max-pairs {max_pairs}: keep at least 1 pair (or leave it out)")
    if temp < 0:
        raise UsageError(f"--temp {temp:g}: a temperature cannot be negative")
    if not 0 < top_p <= 1:
        raise UsageError(f"--top-p {top_p:g}: give a value in (0, 1]")


def route_for(project, adapter: str | None) -> tuple[str | None, str | None]:
    """(adapter whose prose is read, ``#route`` for new sections). A single-adapter document
    needs neither; with several, ``--adapter`` picks the lane and the new sections are routed to
    it, and without it every prose section is read and sections are left unrouted."""
    names = project.doc.config.training.adapter_names
    if adapter is None:
        return None, None
    if adapter not in names:
        from dlmbuild.util.suggest import did_you_mean

        raise UsageError(f"unknown adapter '{adapter}'{did_you_mean(adapter, names)}; {project.doc.path.name} declares: {', '.join(names)}")
    return adapter, (adapter if len(names) > 1 else None)


@synth_app.command("instructions")
def instructions(
    doc: Path = typer.Argument(..., help="The .dlm document."),
    teacher: str = typer.Option("base", "--teacher", "-t", help="base | self | hf:PATH | gguf:PATH | openai:MODEL | anthropic:MODEL | vllm-server:URL"),
    per_section: int = typer.Option(3, "--per-section", help="Pairs asked for per prose section (per chunk of a long one)."),
    strategy: str = typer.Option("extraction", "--strategy", help="extraction | expansion | both"),
    filter_name: str = typer.Option("judge", "--filter", help="judge | dedup-only | none"),
    threshold: float = typer.Option(None, "--threshold", help="The judge's minimum grounding gain, nats per token (default 0.5)."),
    max_pairs: int = typer.Option(None, "--max-pairs", help="Keep at most this many pairs this run."),
    max_new_tokens: int = typer.Option(320, "--max-new-tokens", min=16, max=8192),
    temp: float = typer.Option(0.0, "--temp", help="Teacher sampling temperature (0: greedy)."),
    top_p: float = typer.Option(1.0, "--top-p"),
    seed: int = typer.Option(0, "--seed", help="Sampling seed: a local teacher gives the same pairs again."),
    adapter: str = typer.Option(None, "--adapter", "-a", help="Read only this adapter's prose and route the pairs to it."),
    apply: bool = typer.Option(False, "--apply", help="Write the pairs into DOC now instead of staging them."),
    as_json: bool = typer.Option(False, "--json", help="Print the plan, report and pairs as JSON."),
    timeout: float = typer.Option(120.0, "--timeout", help="Seconds to wait for a remote teacher's reply."),
) -> None:
    """Ask a teacher for Q/A pairs about each prose section, filter them, and stage them."""
    from dlmbuild.document.sources import load_source_sections
    from dlmbuild.infer.generate import Sampling
    from dlmbuild.project import Project
    from dlmbuild.synth.judge import DEFAULT_THRESHOLD
    from dlmbuild.synth.run import SynthSettings, prose_sections, run_id, synthesize
    from dlmbuild.synth.stage import Stage, write_stage
    from dlmbuild.synth.teacher_spec import parse_teacher
    from dlmbuild.synth.teachers.factory import check_teacher, open_teacher

    check_options(strategy, filter_name, per_section, max_pairs, temp, top_p)
    spec = parse_teacher(teacher)
    doc_bytes = doc.read_bytes() if doc.is_file() else None
    project = Project.open(doc, materialize_base=spec.scheme == "base" or filter_name == "judge")
    read_lane, route = route_for(project, adapter)
    check_teacher(spec, project, adapter or project.doc.config.training.adapter_names[0], timeout=timeout)
    settings = SynthSettings(per_section, strategy, filter_name, DEFAULT_THRESHOLD if threshold is None else threshold, max_pairs,
                             Sampling(max_new_tokens=max_new_tokens, temperature=temp, top_p=top_p, seed=seed))
    source_sections, _ = load_source_sections(project.doc, project.sources)
    sections = prose_sections(project.doc.sections, source_sections, read_lane)
    if not sections:
        raise UsageError(f"{doc.name} has no non-empty prose section to synthesize from")
    existing = [pair.question for section in project.doc.sections for pair in section.pairs]
    sha = hashlib.sha256(doc_bytes).hexdigest()
    plan_line = (f"plan: {len(sections)} prose section(s), teacher {spec.label}, strategy {strategy}, "
                 f"{per_section} pair(s) per section, filter {filter_name}"
                 + (f", at most {max_pairs} pairs" if max_pairs else ""))
    if not as_json:
        print(plan_line)
    from dlmbuild.synth.prompts import plan_requests

    teacher_obj = open_teacher(spec, project, adapter or project.doc.config.training.adapter_names[0], timeout=timeout)
    progress = Counter("synth", len(plan_requests([(s.id, s.text) for s in sections], strategy, per_section,
                                          statements=hasattr(teacher_obj, "continue_text"))))
    scorer = None
    try:
        if filter_name == "judge":
            from dlmbuild.synth.teachers.local import LocalChatModel, open_base

            scorer = teacher_obj if isinstance(teacher_obj, LocalChatModel) else open_base(project)
        try:
            pairs, report = synthesize(sections, existing, teacher_obj, scorer, settings, progress.step)
        finally:
            progress.close()
    finally:
        teacher_obj.close()
    stage = Stage(run_id(sha, spec.label, settings), spec.label, sha, settings.as_dict(), pairs)
    if as_json:
        print(json.dumps({"plan": plan_line, "report": report.__dict__, "run": stage.run,
                          "pairs": [p.__dict__ for p in pairs], "applied": apply}, indent=2, ensure_ascii=False))
    else:
        for line in report.lines():
            print(line)
        for pair in pairs:
            print(f"  Q: {pair.question}\n  A: {pair.answer}")
    if apply:
        _apply(project.doc, stage, route, quiet=as_json)
    else:
        write_stage(project.layout.root, stage)
        if not as_json:
            print(f"staged {len(pairs)} pair(s) as run {stage.run}; 'dlm synth apply {doc}' writes them")


def _apply(document, stage, route: str | None, quiet: bool = False) -> None:
    from dlmbuild.synth.writeback import applied_text

    apply_generated(document, len(stage.pairs), lambda: applied_text(document, stage, route),
                    f"wrote {len(stage.pairs)} pair(s) of run {stage.run}", quiet)


@synth_app.command("list")
def list_command(doc: Path = typer.Argument(..., help="The .dlm document."),
                 as_json: bool = typer.Option(False, "--json")) -> None:
    """Show staged pairs and the synthesized sections already in the document."""
    from dlmbuild.project import Project
    from dlmbuild.synth.stage import read_stage
    from dlmbuild.synth.writeback import synthesized_sections

    project = Project.open(doc)
    stage = read_stage(project.layout.root)
    applied = synthesized_sections(project.doc)
    if as_json:
        print(json.dumps({"staged": None if stage is None else stage.as_dict(),
                          "applied": [{"id": s.id, "line": s.line, **s.provenance.as_dict(), "pairs": len(s.pairs)} for s in applied]},
                         indent=2, ensure_ascii=False))
        return
    if stage is None or not stage.pairs:
        print("staged: none")
    else:
        print(f"staged: {len(stage.pairs)} pair(s), run {stage.run}, teacher {stage.teacher}")
        for pair in stage.pairs:
            print(f"  Q: {pair.question}\n  A: {pair.answer}")
    print(f"applied: {sum(len(s.pairs) for s in applied)} pair(s) in {len(applied)} section(s)")
    for section in applied:
        fields = section.provenance.as_dict()
        print(f"  {doc.name}:{section.line}  run {fields.get('run', '?')}  teacher {fields.get('teacher', '?')}  "
              f"{fields.get('strategy', '?')}  {len(section.pairs)} pair(s)")


@synth_app.command("apply")
def apply_command(doc: Path = typer.Argument(..., help="The .dlm document."),
                  adapter: str = typer.Option(None, "--adapter", "-a", help="Route the new sections to this adapter.")) -> None:
    """Write the staged pairs into the document (refused if it changed since staging)."""
    from dlmbuild.project import Project
    from dlmbuild.synth.stage import clear_stage, read_stage

    project = Project.open(doc)
    stage = read_stage(project.layout.root)
    if stage is None:
        raise UsageError(f"nothing is staged for {doc.name}; run 'dlm synth instructions {doc}' first")
    if hashlib.sha256(doc.read_bytes()).hexdigest() != stage.document_sha256:
        raise UsageError(f"{doc} changed since these pairs were staged; run 'dlm synth instructions' again")
    _, route = route_for(project, adapter)
    _apply(project.doc, stage, route)
    clear_stage(project.layout.root)


@synth_app.command("revert")
def revert_command(doc: Path = typer.Argument(..., help="The .dlm document."),
                   run: str = typer.Option(None, "--run", help="Remove only this run's sections.")) -> None:
    """Remove the synthesized (auto-synth) sections; hand-written ones stay byte for byte."""
    from dlmbuild.synth.writeback import revert_text

    revert_generated(doc, run, revert_text, "synthesized")
