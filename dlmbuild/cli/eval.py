"""``dlm eval DOC PROBES``: ask the trained adapter every probe and score its answers.

Everything that can be wrong with the command line or the probe file is refused before the
model loads. Answers come greedily through the path ``dlm prompt`` takes; ``--baseline base``
and ``--baseline in-context`` answer the same probes without the adapter in the same run. The
report format is docs/eval.md.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from dlmbuild.cli.generated import Counter
from dlmbuild.errors import UsageError

BASELINES = ("base", "in-context")


def check_options(min_score: float | None, baselines: list[str]) -> list[str]:
    """The baselines asked for, once each in a fixed order; UsageError for a bad value."""
    from dlmbuild.util.suggest import did_you_mean

    if min_score is not None and not 0.0 <= min_score <= 1.0:
        raise UsageError(f"--min-score {min_score:g}: give a score between 0 and 1")
    for name in baselines:
        if name not in BASELINES:
            raise UsageError(f"unknown baseline '{name}'{did_you_mean(name, BASELINES)}; choose from {', '.join(BASELINES)}")
    return [b for b in BASELINES if b in baselines]


def eval_command(
    doc: Path = typer.Argument(..., help="The .dlm document."),
    probes: Path = typer.Argument(..., help="Probe file: .tsv (kind<TAB>question<TAB>regex) or .jsonl."),
    adapter: str = typer.Option(None, "--adapter", "-a", help="Which adapter (required when the document declares several)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report (dlm.eval/1) instead of the table."),
    report_path: Path = typer.Option(None, "--report", help="Also write the report to this JSON file (atomically)."),
    min_score: float = typer.Option(None, "--min-score", help="Exit 1 when the adapter's overall score is below this (0 to 1)."),
    baseline: list[str] = typer.Option([], "--baseline", metavar="NAME", help="Also score 'base' (adapter off) or 'in-context' (base reading the document); repeatable."),
    max_new_tokens: int = typer.Option(128, "--max-new-tokens", min=1, max=32768),
) -> None:
    """Score the trained adapter on probe questions (and, on request, the untrained base)."""
    from dlmbuild.errors import EXIT_BAD_INPUT
    from dlmbuild.eval.probes import load_probes
    from dlmbuild.eval.report import build_report, file_sha256, write_report
    from dlmbuild.eval.runner import answer_questions, in_context, open_session
    from dlmbuild.eval.score import passes
    from dlmbuild.eval.table import render_table
    from dlmbuild.infer.session import choose_adapter, current_version
    from dlmbuild.project import Project

    systems = ["adapter", *check_options(min_score, baseline)]
    probe_list = load_probes(probes)
    project = Project.open(doc, materialize_base=True)
    sha = file_sha256(doc)
    name = choose_adapter(project, adapter)
    version = current_version(project, name, run="build", exit_code=EXIT_BAD_INPUT)
    session = open_session(project, name)
    questions = [p.question for p in probe_list]
    context = in_context(session, questions, max_new_tokens) if "in-context" in systems else None
    progress = Counter("eval", len(questions) * len(systems))
    answers: dict[str, list[str]] = {}
    try:
        for system in systems:
            answers[system] = answer_questions(session, questions, system, max_new_tokens=max_new_tokens,
                                               context=context, on_answer=progress.step)
    finally:
        progress.close()
    passed = {s: [passes(p, text) for p, text in zip(probe_list, answers[s])] for s in systems}
    report = build_report(
        dlm_id=project.doc.config.dlm_id, document=str(doc), document_sha256=sha, probes_file=str(probes),
        adapter=name, adapter_version=version.label, base=project.base().key, max_new_tokens=max_new_tokens,
        probes=probe_list, answers=answers, passed=passed, in_context=context.as_dict() if context else None,
    )
    if report_path is not None:
        write_report(report_path, report)
    if as_json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print(render_table(report))
        if report_path is not None:
            print(f"wrote {report_path}")
    if min_score is not None and report["score"] < min_score:
        print(f"dlm: score {report['score']:.3f} is below --min-score {min_score:g}", file=sys.stderr)
        raise typer.Exit(1)
