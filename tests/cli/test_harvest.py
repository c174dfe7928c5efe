"""``dlm harvest`` after a real ``dlm eval`` on a tiny trained model: diff, apply, what
``dlm show`` then sees, revert, and the refusals that keep a document safe."""

from __future__ import annotations

import json

import pytest

from tests.cli.test_eval import project  # noqa: F401  (the fixture: a tiny trainable project)

torch = pytest.importorskip("torch")

PROBES = (
    '{"question": "who is the user", "expected": "zebra", "answer": "a note of value", "kind": "prose"}\n'
    '{"question": "What is the  FACT", "expected": ["zebra"], "answer": "the fact is a value"}\n'
    '{"question": "what is the grams", "expected": "zebra|okapi"}\n'
)


@pytest.fixture
def evaluated(project, run_dlm):  # noqa: F811
    (project / "probes.jsonl").write_text(PROBES)
    assert run_dlm("build", project / "doc.dlm").code == 0
    result = run_dlm("eval", "proj/doc.dlm", "proj/probes.jsonl", "--max-new-tokens", "2", "--report", "r.json")
    assert result.code == 0, result.err
    return project / "doc.dlm"


def test_harvest_shows_a_diff_then_applies_then_reverts_to_the_same_bytes(evaluated, run_dlm):
    original = evaluated.read_bytes()
    dry = run_dlm("harvest", "proj/doc.dlm", "--report", "r.json")
    assert dry.code == 0, dry.err
    assert evaluated.read_bytes() == original
    assert "+::instruction::\n" in dry.out and '+<!-- auto-harvest report="r.json" probe="1" -->\n' in dry.out
    assert "+a note of value\n" in dry.out and "the fact is a value\n+" not in dry.out
    assert dry.out.splitlines()[-1] == ("added 1, skipped 1 already in the document, 1 without a reference answer "
                                        "(dry run: add --apply to write proj/doc.dlm)")

    applied = run_dlm("harvest", "proj/doc.dlm", "--sway-json", "r.json", "--apply")
    assert applied.code == 0, applied.err
    assert applied.out.strip() == "added 1, skipped 1 already in the document, 1 without a reference answer; wrote proj/doc.dlm"
    shown = json.loads(run_dlm("show", "proj/doc.dlm", "--json").out)
    harvested = [s for s in shown["sections"] if s["provenance"]]
    assert len(harvested) == 1
    assert harvested[0]["provenance"] == {"kind": "auto-harvest", "report": "r.json", "probe": "1"}
    assert harvested[0]["type"] == "instruction" and harvested[0]["pairs"] == 1
    # placed right after the first paragraph, which holds the reference answer
    assert [s["provenance"] is not None for s in shown["sections"]] == [False, True, False, False]
    assert evaluated.read_bytes().startswith(original[: original.index(b"::instruction::")])

    stale = run_dlm("harvest", "proj/doc.dlm", "--report", "r.json", "--apply")
    assert stale.code == 2 and stale.err.startswith("proj/doc.dlm: the document changed since the report was written")

    preview = run_dlm("harvest", "proj/doc.dlm", "--report", "r.json", "--revert")
    assert preview.code == 0 and "-<!-- auto-harvest" in preview.out
    assert preview.out.splitlines()[-1] == "removed 1 harvested section(s) (dry run: add --apply to write proj/doc.dlm)"
    reverted = run_dlm("harvest", "proj/doc.dlm", "--revert", "--apply")
    assert reverted.code == 0 and reverted.out.strip() == "removed 1 harvested section(s); wrote proj/doc.dlm"
    assert evaluated.read_bytes() == original


def test_harvest_refuses_a_report_from_another_document_and_needs_a_report(evaluated, run_dlm):
    report = json.loads((evaluated.parent.parent / "r.json").read_text())
    report["dlm_id"] = "01HYYYYYYYYYYYYYYYYYYYYYYY"
    (evaluated.parent.parent / "other.json").write_text(json.dumps(report))
    before = evaluated.read_bytes()
    result = run_dlm("harvest", "proj/doc.dlm", "--report", "other.json", "--apply")
    assert result.code == 2 and result.out == ""
    assert result.err.strip() == ("other.json: report is about document 01HYYYYYYYYYYYYYYYYYYYYYYY, "
                                  "but doc.dlm is 01JD5ZQ8V7W9X2Y3Z4A5B6C7D8")
    missing = run_dlm("harvest", "proj/doc.dlm")
    assert missing.code == 2 and "harvest needs --report REPORT.json" in missing.err
    assert evaluated.read_bytes() == before
