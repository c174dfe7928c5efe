"""``dlm eval`` on a tiny random-init Llama trained in seconds: table, report, baselines, exit
codes, and every refusal before the model loads."""

from __future__ import annotations

import json

import pytest

from tests.rules.conftest import trainable_project

torch = pytest.importorskip("torch")

PROBES = "# kind\tquestion\texpected\ntrained\twhat is the fact\tvalue|fact\nprose\twho is the user\tzebra\n"


@pytest.fixture
def project(tmp_path, monkeypatch):
    return trainable_project(tmp_path, monkeypatch, files={"probes.tsv": PROBES})


def test_eval_before_training_says_to_build(project, run_dlm):
    result = run_dlm("eval", "proj/doc.dlm", "proj/probes.tsv")
    assert result.code == 2 and result.out == ""
    assert result.err.strip() == "dlm: adapter 'default' has not been trained yet; run 'dlm build proj/doc.dlm'"


@pytest.mark.parametrize(("args", "message"), [
    (["--min-score", "1.5"], "dlm: --min-score 1.5: give a score between 0 and 1"),
    (["--baseline", "bas"], "dlm: unknown baseline 'bas' (did you mean 'base'?); choose from base, in-context"),
    (["--adapter", "tne"], "dlm: unknown adapter 'tne'; doc.dlm declares: default"),
])
def test_bad_options_are_one_line_exit_2(project, run_dlm, args, message):
    result = run_dlm("eval", "proj/doc.dlm", "proj/probes.tsv", *args)
    assert (result.code, result.err.strip(), result.out) == (2, message, "")


def test_a_bad_probe_file_is_refused_before_anything_loads(project, run_dlm):
    (project / "probes.tsv").write_text("trained\tq\t(x\n")
    result = run_dlm("eval", "proj/doc.dlm", "proj/probes.tsv")
    assert (result.code, result.err.strip()) == (2, "proj/probes.tsv:1:3: bad expected-answer pattern: missing ), unterminated subpattern")
    (project / "empty.jsonl").write_text("\n")
    result = run_dlm("eval", "proj/doc.dlm", "proj/empty.jsonl")
    assert (result.code, result.err.strip()) == (2, "proj/empty.jsonl: no probes (every line is blank)")


def test_eval_scores_writes_a_report_and_runs_baselines(project, run_dlm):
    assert run_dlm("build", project / "doc.dlm").code == 0
    result = run_dlm("eval", "proj/doc.dlm", "proj/probes.tsv", "--max-new-tokens", "4", "--report", "out/r.json",
                     "--baseline", "in-context", "--baseline", "base")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].split() == ["LINE", "KIND", "QUESTION", "ANSWER", "PASS", "BASE", "IN-CONTEXT"]
    assert lines[1].split()[:2] == ["2", "trained"] and lines[2].split()[-3:] == ["FAIL"] * 3
    assert any(line.split()[:2] == ["KIND", "ADAPTER"] for line in lines)
    assert lines[-1] == "wrote out/r.json"
    report = json.loads((project.parent / "out" / "r.json").read_text())
    assert report["schema"] == "dlm.eval/1" and report["systems"] == ["adapter", "base", "in-context"]
    assert report["dlm_id"] == "01JD5ZQ8V7W9X2Y3Z4A5B6C7D8" and report["document"] == "proj/doc.dlm"
    assert report["probes_file"] == "proj/probes.tsv" and report["adapter"] == "default"
    assert report["adapter_version"] == "v0001" and report["base"] == "./base"
    import hashlib

    assert report["document_sha256"] == hashlib.sha256((project / "doc.dlm").read_bytes()).hexdigest()
    assert report["settings"] == {"max_new_tokens": 4, "temperature": 0}
    assert [p["line"] for p in report["probes"]] == [2, 3]
    assert report["probes"][1]["answer"] == "zebra" and report["probes"][0]["answer"] is None
    for probe in report["probes"]:
        assert set(probe["results"]) == {"adapter", "base", "in-context"}
    assert report["summary"]["base"]["prose"] == {"passed": 0, "total": 1, "score": 0.0}
    assert report["score"] == report["summary"]["adapter"]["all"]["score"] <= 0.5
    context = report["in_context"]
    assert context["context_tokens"] == 256 and context["chars_kept"] == context["chars_total"] > 0
    # greedy: a second run gives the same answers; --json prints the same report
    again = run_dlm("eval", "proj/doc.dlm", "proj/probes.tsv", "--max-new-tokens", "4", "--json")
    assert again.code == 0
    printed = json.loads(again.out)
    assert printed["systems"] == ["adapter"]
    assert [p["results"]["adapter"] for p in printed["probes"]] == [p["results"]["adapter"] for p in report["probes"]]


def test_min_score_fails_the_run_when_probes_fail(project, run_dlm):
    assert run_dlm("build", project / "doc.dlm").code == 0
    result = run_dlm("eval", "proj/doc.dlm", "proj/probes.tsv", "--max-new-tokens", "2", "--min-score", "1.0", "--json")
    assert result.code == 1
    score = json.loads(result.out)["score"]
    assert result.err.strip() == f"dlm: score {score:.3f} is below --min-score 1"
    assert run_dlm("eval", "proj/doc.dlm", "proj/probes.tsv", "--max-new-tokens", "2", "--min-score", "0").code == 0


def test_eval_answers_exactly_what_prompt_answers(project, run_dlm):
    assert run_dlm("build", project / "doc.dlm").code == 0
    prompt = run_dlm("prompt", "proj/doc.dlm", "what is the fact", "--temp", "0", "--max-new-tokens", "5")
    result = run_dlm("eval", "proj/doc.dlm", "proj/probes.tsv", "--max-new-tokens", "5", "--json")
    assert prompt.code == result.code == 0
    assert json.loads(result.out)["probes"][0]["results"]["adapter"]["text"] == prompt.out[:-1]


def test_in_context_cuts_the_document_from_its_end_to_fit_the_context(project, run_dlm):
    assert run_dlm("build", project / "doc.dlm").code == 0
    result = run_dlm("eval", "proj/doc.dlm", "proj/probes.tsv", "--baseline", "in-context", "--max-new-tokens", "225", "--json")
    assert result.code == 0, result.err
    context = json.loads(result.out)["in_context"]
    assert context["context_tokens"] == 256
    assert 0 < context["chars_kept"] < context["chars_total"]
