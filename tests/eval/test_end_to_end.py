"""``dlm build`` then ``dlm eval`` on the real embedded base, on a document that is not the
tutor and that the recipe was not tuned on (benchmarks/quality_docs/local_history.dlm: 10 Q/A
pairs about an invented village). Training must stop only once every answer is reproduced, and
eval must then find the document's own questions answered, against the untrained base, and
questions asked in other words mostly answered too (the base's own rewordings, train/augment.py;
measured 6/10 here, 0/10 for the base)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.helpers import suite_threads

pytestmark = pytest.mark.slow
DOCS = Path(__file__).resolve().parents[2] / "benchmarks" / "quality_docs"


def test_a_held_out_document_is_learned_and_eval_proves_it(embedded_home, tmp_path, monkeypatch, run_dlm):
    monkeypatch.setenv("DLM_HOME", str(embedded_home))
    monkeypatch.setenv("DLM_THREADS", suite_threads())
    doc = tmp_path / "local_history.dlm"
    shutil.copy(DOCS / "local_history.dlm", doc)
    probes = tmp_path / "trained.tsv"  # the document's own questions: what training must guarantee
    probes.write_text("".join(line for line in (DOCS / "local_history.probes.tsv").read_text().splitlines(True)
                              if line.startswith(("trained\t", "paraphrase\t"))))

    before = run_dlm("eval", doc, probes)
    assert before.code == 2 and "run 'dlm build" in before.err

    built = run_dlm("build", doc)
    assert built.code == 0, built.err
    assert "10/10 answers reproduced after" in built.err
    assert "rewordings of 10 questions" in built.err

    report_path = tmp_path / "report.json"
    result = run_dlm("eval", doc, probes, "--baseline", "base", "--report", report_path, "--min-score", "0.7")
    assert result.code == 0, result.out + result.err
    report = json.loads(report_path.read_text())
    assert report["schema"] == "dlm.eval/1" and report["systems"] == ["adapter", "base"]
    adapter, base = report["summary"]["adapter"]["trained"], report["summary"]["base"]["trained"]
    assert adapter["total"] == 10 and adapter["score"] >= 0.9
    assert base["score"] <= 0.2  # the base cannot know an invented village
    other_words = report["summary"]["adapter"]["paraphrase"]
    assert other_words["total"] == 10 and other_words["score"] >= 0.4 > report["summary"]["base"]["paraphrase"]["score"]
