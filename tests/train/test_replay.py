"""The replay corpus: append-only by id, tolerant of a torn last line, a lossless record of each
section type, and a deterministic, order-independent sample sized by ``replay_budget``."""

from __future__ import annotations

import json
import random

import pytest

from dlmbuild.document.sections import PreferenceTriple, QAPair, Section, SectionType, section_id
from dlmbuild.train.replay import ReplayCorpus, record_section, replay_budget, sample, section_record, stale_ids


def rec(identity: str, text: str = "x") -> dict:
    return {"id": identity, "type": "prose", "text": text, "attrs": [], "pairs": [], "triples": []}


def lines(corpus: ReplayCorpus) -> list[str]:
    return corpus.path.read_text(encoding="utf-8").splitlines()


# ---------------------------------------------------------------- the file


def test_missing_corpus_reads_empty(tmp_path):
    corpus = ReplayCorpus(tmp_path / "replay", "facts")
    assert corpus.path == tmp_path / "replay" / "facts.jsonl"
    assert corpus.records() == {} and corpus.ids() == set()


def test_append_creates_the_folder_and_adds_only_new_ids(tmp_path):
    corpus = ReplayCorpus(tmp_path / "replay", "facts")
    assert corpus.append([rec("a"), rec("b")]) == 2
    assert corpus.append([rec("b", "changed"), rec("c")]) == 1
    assert corpus.append([rec("a"), rec("c")]) == 0
    assert corpus.append([]) == 0
    assert [json.loads(line)["id"] for line in lines(corpus)] == ["a", "b", "c"]
    assert corpus.ids() == {"a", "b", "c"}
    assert corpus.records()["b"]["text"] == "x"  # the first version of an id is kept


def test_lines_are_sorted_key_json_with_unicode_kept(tmp_path):
    corpus = ReplayCorpus(tmp_path, "facts")
    corpus.append([rec("a", "café ☕")])
    [line] = lines(corpus)
    assert line == json.dumps(rec("a", "café ☕"), sort_keys=True, ensure_ascii=False)
    assert "café ☕" in line


def test_adapters_have_separate_corpora(tmp_path):
    ReplayCorpus(tmp_path, "facts").append([rec("a")])
    ReplayCorpus(tmp_path, "tone").append([rec("b")])
    assert ReplayCorpus(tmp_path, "facts").ids() == {"a"}
    assert ReplayCorpus(tmp_path, "tone").ids() == {"b"}


def test_first_occurrence_wins_when_the_file_has_duplicates(tmp_path):
    corpus = ReplayCorpus(tmp_path, "facts")
    corpus.path.write_text(json.dumps(rec("a", "one")) + "\n" + json.dumps(rec("a", "two")) + "\n", encoding="utf-8")
    assert corpus.records() == {"a": rec("a", "one")}


def test_torn_last_line_is_ignored(tmp_path):
    corpus = ReplayCorpus(tmp_path, "facts")
    corpus.append([rec("a"), rec("b")])
    whole = json.dumps(rec("c", "lost"), sort_keys=True)
    with open(corpus.path, "a", encoding="utf-8") as handle:
        handle.write(whole[: len(whole) // 2])  # a crash mid-append: no newline, half a record
    assert corpus.ids() == {"a", "b"}
    assert corpus.records()["b"] == rec("b")


def test_append_after_a_torn_line_keeps_the_new_record(tmp_path):
    corpus = ReplayCorpus(tmp_path, "facts")
    corpus.append([rec("a")])
    with open(corpus.path, "a", encoding="utf-8") as handle:
        handle.write('{"id": "b", "te')
    assert corpus.append([rec("c")]) == 1
    assert corpus.ids() == {"a", "c"}


def test_torn_line_inside_a_multibyte_character_is_ignored(tmp_path):
    corpus = ReplayCorpus(tmp_path, "facts")
    corpus.append([rec("a")])
    torn = json.dumps(rec("b", "é" * 10), sort_keys=True, ensure_ascii=False).encode("utf-8")
    cut = torn.index("é".encode()) + 1  # half of the two bytes of 'é'
    with open(corpus.path, "ab") as handle:
        handle.write(torn[:cut])
    assert corpus.ids() == {"a"}


# ---------------------------------------------------------------- record <-> section


def prose() -> Section:
    text = "The capital of Freedonia is Fredville.\n\nIt has 3 bridges."
    return Section(id=section_id(SectionType.PROSE, text), type=SectionType.PROSE, text=text, line=4,
                   adapter="facts", adapters=("facts",), start=10, end=70)


def instruction() -> Section:
    text = "### Q\nWho?\n### A\nUs.\n### Q\nWhy «é»?\n### A\nBecause."
    return Section(id=section_id(SectionType.INSTRUCTION, text), type=SectionType.INSTRUCTION, text=text, line=9,
                   pairs=(QAPair("Who?", "Us.", 10), QAPair("Why «é»?", "Because.", 12)))


def preference() -> Section:
    text = "### Prompt\nSay hi\n### Chosen\nHi!\n### Rejected\nGo away."
    return Section(id=section_id(SectionType.PREFERENCE, text), type=SectionType.PREFERENCE, text=text, line=20,
                   triples=(PreferenceTriple("Say hi", "Hi!", "Go away.", 21),))


def image() -> Section:
    attrs = (("alt", "a cat"), ("path", "img/cat.png"))
    return Section(id=section_id(SectionType.IMAGE, "", attrs), type=SectionType.IMAGE, text="", line=3, attrs=attrs)


def test_section_record_fields():
    section = instruction()
    assert section_record("v1", section) == {
        "id": "v1", "type": "instruction", "text": section.text, "attrs": [],
        "pairs": [["Who?", "Us."], ["Why «é»?", "Because."]], "triples": [],
    }
    assert section_record("v2", preference())["triples"] == [["Say hi", "Hi!", "Go away."]]
    assert section_record("v3", image())["attrs"] == [["alt", "a cat"], ["path", "img/cat.png"]]


@pytest.mark.parametrize("make", [prose, instruction, preference, image])
def test_round_trip_through_the_corpus_file(tmp_path, make):
    section = make()
    corpus = ReplayCorpus(tmp_path, "tone")
    corpus.append([section_record(section.id, section)])
    back = record_section(corpus.records()[section.id], "tone")
    # what training needs survives exactly
    assert (back.id, back.type, back.text, back.attrs) == (section.id, section.type, section.text, section.attrs)
    assert [(p.question, p.answer) for p in back.pairs] == [(p.question, p.answer) for p in section.pairs]
    assert [(t.prompt, t.chosen, t.rejected) for t in back.triples] == [(t.prompt, t.chosen, t.rejected) for t in section.triples]
    assert isinstance(back.type, SectionType)
    assert all(isinstance(p, QAPair) for p in back.pairs) and all(isinstance(t, PreferenceTriple) for t in back.triples)
    # a replayed section is routed to the adapter whose corpus it came from, and has no place in the document
    assert back.adapters == ("tone",)
    assert (back.line, back.fenced) == (0, False)
    # and recording it again gives the same record: the round trip is a fixed point
    assert section_record(section.id, back) == section_record(section.id, section)


def test_record_section_tolerates_records_without_optional_lists():
    back = record_section({"id": "a", "type": "prose", "text": "hello"}, "default")
    assert (back.id, back.type, back.text, back.attrs, back.pairs, back.triples) == ("a", SectionType.PROSE, "hello", (), (), ())


# ---------------------------------------------------------------- choosing what to replay


def test_stale_ids_are_the_sorted_difference():
    assert stale_ids({"d", "a", "c", "b"}, {"b", "z"}) == ["a", "c", "d"]
    assert stale_ids(set(), {"a"}) == []
    assert stale_ids({"a"}, {"a"}) == []


IDS = [f"section-{i:03d}" for i in range(60)]


def test_sample_is_deterministic_sorted_and_sized():
    first = sample(IDS, 7, seed=42)
    assert first == sample(IDS, 7, seed=42)
    assert first == sorted(first) and len(set(first)) == 7 and set(first) <= set(IDS)
    assert sample(IDS, 0, seed=42) == []
    assert sample(IDS, 100, seed=42) == IDS
    assert sample([], 5, seed=42) == []


def test_sample_is_nested_as_the_count_grows():
    # lowest-hash ranking: the 5-sample is part of the 10-sample
    assert set(sample(IDS, 5, seed=3)) <= set(sample(IDS, 10, seed=3))


def test_sample_depends_on_the_seed():
    samples = {tuple(sample(IDS, 7, seed=s)) for s in range(5)}
    assert len(samples) == 5


def test_sample_does_not_depend_on_the_input_order():
    shuffled = list(IDS)
    random.Random(0).shuffle(shuffled)
    assert sample(shuffled, 9, seed=11) == sample(IDS, 9, seed=11)
    assert sample(list(reversed(IDS)), 9, seed=11) == sample(IDS, 9, seed=11)


def test_sample_of_a_subset_keeps_its_members_that_were_sampled_before():
    # removing ids that were not sampled does not change the sample (no position-based draw)
    chosen = sample(IDS, 6, seed=5)
    fewer = [i for i in IDS if i in chosen or IDS.index(i) % 2 == 0]
    assert sample(fewer, 6, seed=5) == chosen


@pytest.mark.parametrize(
    ("current", "fraction", "max_rows", "available", "budget"),
    [
        (30, 0.25, 2000, 100, 10),   # 10 / (30 + 10) = 25%
        (3, 0.25, 2000, 100, 1),     # ceil(1.0)
        (4, 0.25, 2000, 100, 2),     # ceil(4/3) = 2
        (1, 0.25, 2000, 5, 1),       # ceil(1/3) = 1
        (0, 0.25, 2000, 3, 1),       # nothing current, something stale: still one
        (30, 0.01, 2000, 100, 1),    # ceil(30*0.01/0.99) = 1
        (1000, 0.25, 100, 500, 100),  # max_rows caps
        (1000, 0.25, 2000, 7, 7),    # what is available caps
        (10, 0.5, 2000, 100, 10),    # half and half
        (10, 1.0, 20, 50, 20),       # fraction 1: everything available, up to max_rows
        (10, 1.0, 2000, 50, 50),
        (10, 0.25, 2000, 0, 0),      # nothing stale
        (10, 0.0, 2000, 50, 0),      # replay off by fraction
        (10, 0.25, 0, 50, 0),        # replay off by max_rows
    ],
)
def test_replay_budget(current, fraction, max_rows, available, budget):
    assert replay_budget(current, fraction, max_rows, available) == budget


def test_replay_budget_exact_fractions_are_not_rounded_up():
    assert replay_budget(12, 0.2, 2000, 100) == 3  # 3 / (12 + 3) = 20%
    assert replay_budget(6, 0.4, 2000, 100) == 4   # 4 / (6 + 4) = 40%
