"""The dlm.eval/1 report: its fields, a write/read round trip, and refusing what is not one."""

from __future__ import annotations

import json

import pytest

from dlmbuild.errors import DocumentError
from dlmbuild.eval.probes import Expected, Probe
from dlmbuild.eval.report import SCHEMA, build_report, file_sha256, read_report, write_report
from dlmbuild.eval.table import clip, render_table

PROBES = [
    Probe(1, "trained", "Who founded Wendlecombe?", Expected(regex="aldous"), "aldous"),
    Probe(3, "paraphrase", "Which year?", Expected(any_of=("1614", "sixteen fourteen")), "1614"),
    Probe(4, "trained", "Which bell?", Expected(regex="old marrow|marrow bell"), None),
]


def make_report(**extra) -> dict:
    answers = {"adapter": ["Aldous Fenn", "in 1614", "the bell"], "base": ["nobody", "1614", "no idea"]}
    passed = {"adapter": [True, True, False], "base": [False, True, False]}
    return build_report(dlm_id="01JD5ZQ8V7W9X2Y3Z4A5B6C7D8", document="notes/doc.dlm", document_sha256="ab" * 32,
                        probes_file="doc.probes.tsv", adapter="default", adapter_version="v0003", base="smollm2-135m",
                        max_new_tokens=64, probes=PROBES, answers=answers, passed=passed, **extra)


def test_the_report_holds_every_documented_field():
    report = make_report()
    assert report["schema"] == SCHEMA == "dlm.eval/1"
    assert report["systems"] == ["adapter", "base"]
    assert report["settings"] == {"max_new_tokens": 64, "temperature": 0}
    assert report["adapter_version"] == "v0003" and report["base"] == "smollm2-135m"
    assert report["probes"][1] == {
        "line": 3, "kind": "paraphrase", "question": "Which year?", "expected": {"any_of": ["1614", "sixteen fourteen"]},
        "answer": "1614", "results": {"adapter": {"text": "in 1614", "pass": True}, "base": {"text": "1614", "pass": True}},
    }
    assert report["probes"][2]["expected"] == {"regex": "old marrow|marrow bell"} and report["probes"][2]["answer"] is None
    assert report["summary"]["adapter"]["trained"] == {"passed": 1, "total": 2, "score": 0.5}
    assert report["summary"]["base"]["all"] == {"passed": 1, "total": 3, "score": 1 / 3}
    assert report["score"] == 2 / 3
    assert "in_context" not in report


def test_write_then_read_round_trips_exactly(tmp_path):
    report = make_report(in_context={"chars_kept": 10, "chars_total": 20, "context_tokens": 256})
    path = tmp_path / "out" / "report.json"
    write_report(path, report)
    assert read_report(path) == report
    assert json.loads(path.read_text()) == report
    assert not [p for p in path.parent.iterdir() if p.name != "report.json"]  # no temp file left


def test_file_sha256_hashes_the_bytes(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    assert file_sha256(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "r.json:1:2: not a dlm eval report (invalid JSON: Expecting property name enclosed in double quotes)"),
    ('{"schema": "dlm.show/1"}', "r.json: not a dlm eval report (schema 'dlm.show/1', expected 'dlm.eval/1')"),
    ("[1]", "r.json: not a dlm eval report (schema None, expected 'dlm.eval/1')"),
    ('{"schema": "dlm.eval/1", "dlm_id": "x"}', "r.json: not a complete dlm eval report: missing document_sha256, adapter, systems, probes, summary, score"),
])
def test_what_is_not_a_report_is_refused(tmp_path, monkeypatch, content, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "r.json").write_text(content)
    with pytest.raises(DocumentError) as info:
        read_report("r.json")
    assert str(info.value) == message and info.value.exit_code == 2


def test_a_report_with_malformed_probes_or_missing_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    report = make_report()
    report["probes"][0].pop("line")
    write_report("r.json", report)
    with pytest.raises(DocumentError, match="each probe needs line, question, answer and results"):
        read_report("r.json")
    with pytest.raises(DocumentError) as info:
        read_report("gone.json")
    assert str(info.value) == "gone.json: no such report (write one with 'dlm eval DOC PROBES --report FILE')"


def test_the_table_shows_each_probe_and_a_summary_per_kind_and_system():
    text = render_table(make_report(in_context=None))
    lines = text.splitlines()
    assert lines[0].split() == ["LINE", "KIND", "QUESTION", "ANSWER", "PASS", "BASE"]
    assert lines[1].split()[:2] == ["1", "trained"] and lines[1].split()[-2:] == ["pass", "FAIL"]
    assert "Which bell?" in lines[3] and lines[3].split()[-2:] == ["FAIL", "FAIL"]
    summary = {line.split()[0]: line.split()[1:] for line in lines[5:9]}
    assert summary["KIND"] == ["ADAPTER", "BASE"]
    assert summary["trained"] == ["1/2", "50.0%", "0/2", "0.0%"]
    assert summary["all"] == ["2/3", "66.7%", "1/3", "33.3%"]
    assert lines[-1] == "score 0.667 (adapter default v0003, 2 of 3 probes)"


def test_clip_keeps_one_line_and_marks_a_cut():
    assert clip("a\n b", 10) == "a b"
    assert clip("abcdefghij", 5) == "abcd…"
