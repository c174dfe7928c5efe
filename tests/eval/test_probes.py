"""Loading probe files: both spellings, and every bad row refused with its exact location."""

from __future__ import annotations

import pytest

from dlmbuild.errors import DocumentError
from dlmbuild.eval.probes import Expected, Probe, literal, load_probes


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def refusal(path) -> tuple[str, int]:
    with pytest.raises(DocumentError) as info:
        load_probes(path)
    return str(info.value), info.value.exit_code


def test_tsv_probes_skip_blank_and_comment_lines_and_keep_their_line_numbers(tmp_path):
    path = write(tmp_path, "p.tsv", "# probes\n\ntrained\tWho founded it?\taldous\nprose\tWhen?\t\\b1614\\b\r\n")
    assert load_probes(path) == [
        Probe(3, "trained", "Who founded it?", Expected(regex="aldous"), "aldous"),
        Probe(4, "prose", "When?", Expected(regex="\\b1614\\b"), None),
    ]


def test_a_plain_literal_pattern_is_its_own_reference_answer():
    assert literal("old marrow") == "old marrow"
    assert literal("qs-240") == "qs-240"
    assert literal("fjord|ash grey") is None
    assert literal("3\\.4") is None


def test_the_benchmark_probe_files_load(tmp_path):
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "benchmarks" / "quality_docs"
    files = sorted(folder.glob("*.probes.tsv"))
    assert files
    for path in files:
        probes = load_probes(path)
        assert probes and {p.kind for p in probes} <= {"trained", "paraphrase", "prose"}


def test_jsonl_probes_take_a_regex_or_a_list_and_an_optional_answer(tmp_path):
    path = write(tmp_path, "p.jsonl", '{"question": "Q1?", "expected": "drum+ond", "answer": "Drummond."}\n'
                 '\n{"question": "Q2?", "expected": ["1958", "fifty-eight"], "kind": "paraphrase"}\n'
                 '{"question": "Q3?", "expected": "moorsey"}\n{"question": "Q4?", "expected": "a|b"}\n')
    assert load_probes(path) == [
        Probe(1, "trained", "Q1?", Expected(regex="drum+ond"), "Drummond."),
        Probe(3, "paraphrase", "Q2?", Expected(any_of=("1958", "fifty-eight")), "1958"),
        Probe(4, "trained", "Q3?", Expected(regex="moorsey"), "moorsey"),
        Probe(5, "trained", "Q4?", Expected(regex="a|b"), None),
    ]


@pytest.mark.parametrize(("text", "message"), [
    ("trained\tq\tx\n\n\n\n\n\nparaphrase\tonly two\n", "probes.tsv:7: expected 3 tab-separated fields, got 2"),
    ("trained\tq\tx\ntrained\tq\tx\ttoo many\n", "probes.tsv:2: expected 3 tab-separated fields, got 4"),
    ("#\n\n\ntrained\tq\t(unbalanced\n", "probes.tsv:4:3: bad expected-answer pattern: missing ), unterminated subpattern"),
    ("#\n\n\ntrained\tq\tunbalanced)\n", "probes.tsv:4:3: bad expected-answer pattern: unbalanced parenthesis"),
    ("Trained!\tq\tx\n", "probes.tsv:1:1: bad kind 'Trained!': a kind is a lowercase name ([a-z][a-z0-9_-]*), e.g. trained, paraphrase, prose"),
    ("all\tq\tx\n", "probes.tsv:1:1: bad kind 'all': the summary uses 'all' for every probe together"),
    ("trained\t \tx\n", "probes.tsv:1:2: empty question"),
    ("trained\tq\t \n", "probes.tsv:1:3: empty expected-answer pattern (it would match every answer)"),
    ("# nothing here\n\n", "probes.tsv: no probes (every line is blank or a comment)"),
    ("", "probes.tsv: no probes (every line is blank or a comment)"),
])
def test_bad_tsv_rows_are_refused_with_their_location(tmp_path, monkeypatch, text, message):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "probes.tsv", text)
    assert refusal("probes.tsv") == (message, 2)


@pytest.mark.parametrize(("text", "message"), [
    ('{"question": "q", "expected": "x"}\n{"question": "q", "expected": \n', "probes.jsonl:2:31: not valid JSON: Expecting value"),
    ('["q", "x"]\n', "probes.jsonl:1: expected a JSON object, got a list"),
    ('{"question": 3, "expected": "x"}\n', "probes.jsonl:1: field 'question' must be a string, got a number"),
    ('{"question": "q", "expected": "x", "kind": null}\n', "probes.jsonl:1: field 'kind' must be a string, got null"),
    ('{"question": "q", "expected": "x", "answer": true}\n', "probes.jsonl:1: field 'answer' must be a string, got a boolean"),
    ('{"question": "q", "expected": 7}\n', "probes.jsonl:1: field 'expected' must be a regex string or a non-empty list of non-empty strings, got a number"),
    ('{"question": "q", "expected": []}\n', "probes.jsonl:1: field 'expected' must be a regex string or a non-empty list of non-empty strings, got another list"),
    ('{"question": "q", "expected": ["a", 1]}\n', "probes.jsonl:1: field 'expected' must be a regex string or a non-empty list of non-empty strings, got another list"),
    ('{"question": "q"}\n', "probes.jsonl:1: missing field 'expected'"),
    ('{"question": "q", "expected": "x", "anwser": "y"}\n', "probes.jsonl:1: unknown field 'anwser' (did you mean 'answer'?); a probe has question, expected, kind, answer"),
    ('{"question": "q", "expected": "[a-"}\n', "probes.jsonl:1: bad expected-answer pattern: unterminated character set"),
    ('{"question": "q", "expected": "x", "kind": "Bad Kind"}\n', "probes.jsonl:1: bad kind 'Bad Kind': a kind is a lowercase name ([a-z][a-z0-9_-]*), e.g. trained, paraphrase, prose"),
    ("\n\n", "probes.jsonl: no probes (every line is blank)"),
])
def test_bad_jsonl_rows_are_refused_with_their_location(tmp_path, monkeypatch, text, message):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "probes.jsonl", text)
    assert refusal("probes.jsonl") == (message, 2)


def test_unknown_extensions_missing_files_and_non_utf8_are_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "probes.csv", "trained,q,x\n")
    assert refusal("probes.csv") == ("probes.csv: a probe file ends in .tsv (kind<TAB>question<TAB>expected) or .jsonl", 2)
    assert refusal("gone.tsv") == ("gone.tsv: no such probe file", 2)
    (tmp_path / "bin.tsv").write_bytes(b"trained\tq\t\xff\n")
    assert refusal("bin.tsv") == ("bin.tsv: not UTF-8 text (byte 0xff)", 2)
