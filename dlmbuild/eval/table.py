"""The text ``dlm eval`` prints: one row per probe, then a score per kind and system.

Built from the report alone, so what a terminal shows and what ``--report`` saves never
disagree.
"""

from __future__ import annotations

from dlmbuild.eval.score import ALL

QUESTION_WIDTH = 44
ANSWER_WIDTH = 36


def clip(text: str, width: int) -> str:
    """``text`` on one line, cut to ``width`` characters with an ellipsis when longer."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def mark(ok: bool) -> str:
    return "pass" if ok else "FAIL"


def render_table(report: dict) -> str:
    """The per-probe table and the summary, as printed."""
    systems = report["systems"]
    extra = systems[1:]
    head = f"{'LINE':>5}  {'KIND':<12}{'QUESTION':<{QUESTION_WIDTH}}  {'ANSWER':<{ANSWER_WIDTH}}  {'PASS':<5}"
    head += "".join(f"  {s.upper():<10}" for s in extra)
    rows = [head.rstrip()]
    for probe in report["probes"]:
        result = probe["results"]
        row = (f"{probe['line']:>5}  {clip(probe['kind'], 11):<12}{clip(probe['question'], QUESTION_WIDTH):<{QUESTION_WIDTH}}  "
               f"{clip(result['adapter']['text'], ANSWER_WIDTH):<{ANSWER_WIDTH}}  {mark(result['adapter']['pass']):<5}")
        row += "".join(f"  {mark(result[s]['pass']):<10}" for s in extra)
        rows.append(row.rstrip())
    return "\n".join(rows + ["", render_summary(report)])


def render_summary(report: dict) -> str:
    """``KIND  passed/total  %`` per system, the ``all`` row last, then the overall score."""
    systems = report["systems"]
    summary = report["summary"]
    kinds = [k for k in summary["adapter"] if k != ALL] + [ALL]
    rows = [f"{'KIND':<12}" + "".join(f"  {s.upper():<16}" for s in systems)]
    for kind in kinds:
        cells = []
        for system in systems:
            row = summary[system][kind]
            cells.append(f"  {row['passed']:>4}/{row['total']:<4} {row['score']:>6.1%}")
        rows.append(f"{clip(kind, 11):<12}" + "".join(cells))
    rows.append(f"score {report['score']:.3f} (adapter {report['adapter']} {report['adapter_version']}, "
                f"{summary['adapter'][ALL]['passed']} of {summary['adapter'][ALL]['total']} probes)")
    context = report.get("in_context")
    if context is not None:
        rows.append(f"in-context: kept {context['chars_kept']} of {context['chars_total']} characters of the document "
                    f"(context {context['context_tokens']} tokens)")
    return "\n".join(row.rstrip() for row in rows)
