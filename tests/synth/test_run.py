"""The synth pipeline with scripted teachers: requests in document order, parsing, the example
leak, dedup against the document, the judge's threshold, the cap, and repeatable seeds."""

from __future__ import annotations

import contextlib
from dataclasses import replace

from dlmbuild.document.sections import Section, SectionType
from dlmbuild.infer.generate import Sampling
from dlmbuild.synth.run import SynthSettings, prose_sections, run_id, synthesize

ALPHA = Section("a1", SectionType.PROSE, "Alpha station opened in 1901. Its clock is called Big Ada.", 5)
BETA = Section("b2", SectionType.PROSE, "The Beta bridge is 420 metres long and was painted by Ines Vo.", 9)


class ChatTeacher:
    """Answers each chat request with a fixed reply per passage; records the seeds it got."""

    label = "scripted"

    def __init__(self, replies: dict[str, str]):
        self.replies, self.seeds = replies, []

    def complete(self, system: str, user: str, sampling: Sampling) -> str:
        self.seeds.append(sampling.seed)
        return next(reply for key, reply in self.replies.items() if user.rstrip().split("Text:\n")[-1].startswith(key))

    def close(self) -> None:
        pass


class StatementTeacher:
    """Continues a ``Statement:`` list: the question is the statement's first word asked about."""

    label = "scripted"

    def continue_text(self, prefix: str, sampling: Sampling) -> str:
        statement = prefix.rsplit("Statement: ", 1)[1].split("\n")[0]
        return f" What about {statement.split()[0]} {statement.split()[1]}?\n\nStatement: next"


class Scorer:
    """A judge's scorer whose grounded score is high only for answers the passage contains."""

    @contextlib.contextmanager
    def base_only(self):
        yield

    def answer_logprob(self, system: str, question: str, answer: str) -> float:
        return -0.5 if system and answer.rstrip(".").split()[-1] in system else -3.0 if system else -2.0


def test_chat_teacher_pairs_are_parsed_deduped_judged_and_placed():
    teacher = ChatTeacher({
        "Alpha": "Q: When did Alpha station open?\nA: In 1901.\nQ: What is the clock called?\nA: Big Ada.\n"
                 "Q: Who built the Harwick Point lighthouse?\nA: Mabel Corrin.",
        "The Beta": "Q: How long is the Beta bridge?\nA: It is 420 metres long.\nQ: how long is the beta bridge\nA: 420 m.\n"
                    "Q: Who painted it?\nA: Pablo Picasso.",
    })
    settings = SynthSettings(per_section=3, threshold=0.5)
    pairs, report = synthesize([ALPHA, BETA], ["What is the clock called?"], teacher, Scorer(), settings)
    assert [(p.question, p.section, p.after, p.gain) for p in pairs] == [
        ("When did Alpha station open?", "a1", "a1", 1.5), ("How long is the Beta bridge?", "b2", "b2", 1.5)]
    assert (report.requests, report.generated, report.duplicates, report.judged_out, report.kept) == (2, 5, 2, 1, 2)
    assert report.lines() == ["filter: 5 generated from 2 requests, 0 unparsable replies, 2 duplicates, "
                              "1 judged out (threshold 0.5), 0 over --max-pairs, 2 kept"]
    assert teacher.seeds == [0, 1]  # request i samples with seed + i


def test_unparsable_replies_are_counted_and_the_cap_keeps_the_first():
    teacher = ChatTeacher({"Alpha": "I cannot help with that.", "The Beta": "Q: One?\nA: 1.\nQ: Two?\nA: 2.\nQ: Three?\nA: 3."})
    pairs, report = synthesize([ALPHA, BETA], [], teacher, None, SynthSettings(filter="none", max_pairs=2))
    assert [p.question for p in pairs] == ["One?", "Two?"]
    assert (report.unparsable, report.generated, report.capped, report.kept, report.threshold) == (1, 3, 1, 2, None)


def test_statement_teachers_write_questions_and_the_answer_is_the_sentence():
    pairs, report = synthesize([ALPHA, BETA], [], StatementTeacher(), None, SynthSettings(per_section=1, filter="dedup-only"))
    assert [(p.question, p.answer) for p in pairs] == [
        ("What about Its clock?", "Its clock is called Big Ada."),  # two names beat one number
        ("What about The Beta?", "The Beta bridge is 420 metres long and was painted by Ines Vo.")]
    assert report.requests == 2


def test_prose_sections_skip_empty_and_other_lanes_and_run_ids_follow_inputs():
    empty = Section("e", SectionType.PROSE, "  \n", 1)
    tone = replace(BETA, adapters=("tone",))
    source = Section("s", SectionType.PROSE, "From a file.", 0, source_path="notes/a.md", adapters=("knowledge",))
    assert [s.id for s in prose_sections([ALPHA, empty, tone], [source], None)] == ["a1", "b2", "s"]
    assert [s.id for s in prose_sections([ALPHA, empty, tone], [source], "knowledge")] == ["a1", "s"]
    settings = SynthSettings()
    assert run_id("sha", "base", settings) == run_id("sha", "base", SynthSettings())
    assert run_id("sha", "base", settings) != run_id("sha", "base", replace(settings, sampling=Sampling(seed=1)))
