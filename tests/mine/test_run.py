"""Mining with scripted samplers and judges: best and worst by score, the margin threshold,
identical samples, prompts that already have a triple, the cap, and seeds per sample."""

from __future__ import annotations

from dlmbuild.document.sections import QAPair, Section, SectionType
from dlmbuild.mine.run import MineSettings, instruction_prompts, mine

QA = Section("q1", SectionType.INSTRUCTION, "", 5, adapters=("default",),
             pairs=(QAPair("Who built it?", "Mabel built it.", 6), QAPair("When?", "In 1871.", 9)))
OTHER = Section("q2", SectionType.INSTRUCTION, "", 12, adapters=("tone",), pairs=(QAPair("Hi?", "Hello.", 13),))


class LengthJudge:
    """Prefers shorter answers: score = -words."""

    def score(self, prompt, reference, candidates):
        return [-float(len(c.split())) for c in candidates]


def test_best_and_worst_become_a_triple_above_the_margin():
    seeds = []

    def ask(question, sampling):
        seeds.append(sampling.seed)
        return {0: "Mabel.", 1: "It was built by Mabel, an engineer of note.", 2: "Mabel did.", 3: "Mabel.",
                1000: "1871.", 1001: "1872.", 1002: "1873.", 1003: "1874."}[sampling.seed]

    prompts = instruction_prompts([QA, OTHER], "default")
    assert [q for _, q, _ in prompts] == ["Who built it?", "When?"]
    triples, report = mine(prompts, ask, LengthJudge(), MineSettings(samples=4, threshold=1.0), skip=set())
    assert seeds == [0, 1, 2, 3, 1000, 1001, 1002, 1003]
    assert [(t.prompt, t.chosen, t.rejected, t.section, t.margin) for t in triples] == [
        ("Who built it?", "Mabel.", "It was built by Mabel, an engineer of note.", "q1", 8.0)]
    assert (report.below, report.kept) == (1, 1)  # all the 'When?' answers are one word: margin 0


def test_identical_samples_existing_prompts_and_the_cap():
    prompts = instruction_prompts([QA], "default")
    triples, report = mine(prompts, lambda q, s: "same answer", LengthJudge(), MineSettings(), skip=set())
    assert triples == [] and report.identical == 2
    triples, report = mine(prompts, lambda q, s: "x " * (s.seed % 7 + 1), LengthJudge(),
                           MineSettings(threshold=0.0, max_pairs=1), skip={"when?"})
    assert report.already == 1 and report.kept == 1 and report.capped == 0
    assert report.line() == ("mine: 2 prompt(s) x 4 sample(s), 1 already with a triple, 0 with identical samples, "
                             "0 below the margin 0, 0 over --max-pairs, 1 kept")


def test_unrenderable_samples_are_dropped():
    answers = iter(["### A\nsneaky", "fine answer", "::instruction::", "another fine one"] * 2)
    triples, report = mine(instruction_prompts([QA], "default")[:1], lambda q, s: next(answers), LengthJudge(),
                           MineSettings(threshold=0.0), skip=set())
    assert {triples[0].chosen, triples[0].rejected} == {"fine answer", "another fine one"}
