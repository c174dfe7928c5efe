"""The base's own questions: what the filters keep, which prose sentences are asked about, and
that sampling is batched, seeded and repeatable (a scripted model, then a tiny real one)."""

from __future__ import annotations

import pytest

from dlmbuild.train.augment import (
    BATCH_PROMPTS,
    PROSE_CUE,
    PROSE_SAMPLES,
    REPHRASE_CUE,
    AugmentSettings,
    accept_prose_question,
    accept_rephrasing,
    augment,
    first_line,
    key_terms,
    prose_prompt,
    prose_sentences,
    rephrase_prompt,
    sample,
)


def test_key_terms_are_names_numbers_and_identifiers():
    assert key_terms("What port does the Ferrowind admin console listen on?") == {"ferrowind"}
    assert key_terms("What is the default limit of spool.read_rows in brindlekit?") == {"spool.read_rows"}
    assert key_terms("When does `wrenctl drain` run on fw-04 at 10:00?") == {"wrenctl", "drain", "fw-04", "10", "00"}
    assert key_terms("Who leads the rota?") == set()  # the first word is capitalised by grammar, not a name


def test_a_rewording_must_keep_every_key_term_and_be_new():
    question = "How many nodes does Ferrowind run on?"
    seen = {"how many nodes does ferrowind run on"}
    assert accept_rephrasing("How many machines does Ferrowind run on?", question, seen)
    assert not accept_rephrasing("How many machines does it run on?", question, seen)  # lost the name
    assert not accept_rephrasing("How many nodes does ferrowind run on?", question, seen)  # the same words
    assert not accept_rephrasing("Ferrowind runs on nine nodes.", question, seen)  # not a question
    assert not accept_rephrasing("Ferrowind?", question, seen)  # too short to ask anything
    assert not accept_rephrasing("Does Ferrowind run on 12 nodes?", question, seen)  # a number of its own
    assert accept_rephrasing("What is on port 7461 at Ferrowind?", "What runs on port 7461 at Ferrowind?", set())


def test_a_prose_question_must_name_what_the_sentence_is_about_without_its_answer():
    sentence = "Ferrowind logs are searched in a tool called Siltview."
    assert accept_prose_question("Which tool searches Ferrowind logs?", sentence)
    assert not accept_prose_question("How do I search logs in Siltview?", sentence)  # gives the answer away
    assert not accept_prose_question("Which tool searches the logs of the service?", sentence)  # about what?
    assert not accept_prose_question("Ferrowind logs are searched in a tool called Siltview?", sentence.rstrip(".") + "?")
    one = "Every SEV-1 incident needs a written report within three working days."
    assert accept_prose_question("When is a report due for a SEV-1 incident?", one)
    assert not accept_prose_question("When is a report due for an incident?", one)
    plain = "the choir meets every week in the old hall."
    assert accept_prose_question("Where does the choir meet every week?", plain)  # no names: a shared word will do
    assert not accept_prose_question("What time is it in the city now?", plain)


def test_prose_sentences_skip_headings_and_fragments_and_spread_over_long_prose():
    text = ("# Tools\n\nOperators manage Ferrowind with wrenctl. The command\n`wrenctl status` shows every node.\nShort one.\n"
            "Is this a question about nodes?\n\n- a list item without a full stop\n")
    assert prose_sentences([text], 10) == ["Operators manage Ferrowind with wrenctl.", "The command `wrenctl status` shows every node.",
                                           "- a list item without a full stop"]
    many = [" ".join(f"Sentence number {i} says a fact." for i in range(100))]
    picked = prose_sentences(many, 10)
    assert len(picked) == 10 and picked[0].startswith("Sentence number 0 ") and picked[-1].startswith("Sentence number 90 ")
    assert prose_sentences([text], 0) == []


def test_prompts_end_on_the_cue_the_model_completes():
    assert rephrase_prompt("Who is it?").endswith(f"Question: Who is it?\n{REPHRASE_CUE}")
    assert prose_prompt("It is late.").endswith(f"Text: It is late.\n{PROSE_CUE}")
    assert first_line(" What is it?\nQuestion: more") == "What is it?"
    assert first_line(" What is it?<|im_end|>junk") == "What is it?"


class CharTokenizer:
    """One token per character (ids 3..), so a scripted model can 'generate' any text."""

    def encode(self, text: str) -> list[int]:
        return [ord(c) + 3 for c in text]

    def decode(self, ids, skip_special_tokens: bool = False) -> str:
        return "".join(chr(i - 3) for i in ids if i >= 3)


class ScriptedModel:
    """Answers each prompt with the next completions scripted for it, and records its calls."""

    training = True

    def __init__(self, script: dict[str, list[str]]):
        self.script = {k: list(v) for k, v in script.items()}
        self.calls: list[int] = []
        self.tokenizer = CharTokenizer()

    def eval(self):
        self.training = False

    def train(self, mode: bool = True):
        self.training = mode

    def draw(self, input_ids, mask, per_prompt, max_new_tokens):
        """What ``augment.draw`` returns: ``per_prompt`` token lists per row, in row order."""
        self.calls.append(input_ids.shape[0])
        rows = []
        for ids, keep in zip(input_ids.tolist(), mask.tolist(), strict=True):
            prompt = self.tokenizer.decode([i for i, m in zip(ids, keep, strict=True) if m])
            key = next(k for k in self.script if prompt.endswith(k))
            for _ in range(per_prompt):
                text = self.script[key].pop(0) if self.script[key] else " ?"
                rows.append(self.tokenizer.encode(text)[:max_new_tokens])
        return rows


@pytest.fixture(autouse=True)
def scripted_draw(monkeypatch):
    """A scripted model samples by script; a real one goes through the real ``draw``."""
    import dlmbuild.train.augment as augment_module

    real = augment_module.draw

    def draw(model, input_ids, mask, per_prompt, generator, stops):
        if isinstance(model, ScriptedModel):
            return model.draw(input_ids, mask, per_prompt, augment_module.MAX_NEW_TOKENS)
        return real(model, input_ids, mask, per_prompt, generator, stops)

    monkeypatch.setattr(augment_module, "draw", draw)


@pytest.fixture
def long_completions(monkeypatch):
    """The scripted model spends a token per character: let it write a whole question."""
    monkeypatch.setattr("dlmbuild.train.augment.MAX_NEW_TOKENS", 80)


@pytest.mark.usefixtures("long_completions")
def test_augment_keeps_filtered_rewordings_with_the_documents_answer_and_prose_questions_with_the_sentence():
    q = "How many nodes does Ferrowind run on?"
    sentence = "Ferrowind logs are searched in a tool called Siltview."
    model = ScriptedModel({
        f"Question: {q}\n{REPHRASE_CUE}": [" How many machines does Ferrowind run on?\nQuestion: x", " How many hosts?",
                                            " How many machines does Ferrowind run on?", " How many hosts does Ferrowind use?"],
        f"Text: {sentence}\n{PROSE_CUE}": [" What is it?", " What is Siltview?", " Which tool searches Ferrowind logs?\n"],
    })
    result = augment(model, model.tokenizer, [(q, "Nine nodes.")], [sentence], AugmentSettings(2, 5, seed=1), pad_id=0)
    assert result.pairs == [("How many machines does Ferrowind run on?", "Nine nodes.", "rephrasing"),
                            ("How many hosts does Ferrowind use?", "Nine nodes.", "rephrasing"),
                            ("Which tool searches Ferrowind logs?", sentence, "prose")]
    assert result.count("rephrasing") == 2 and result.sampled == 6 + PROSE_SAMPLES  # 3 per wanted rewording
    assert model.training  # its mode is restored


def test_nothing_is_sampled_when_nothing_is_asked_for():
    model = ScriptedModel({})
    result = augment(model, model.tokenizer, [("Who is it?", "Me.")], ["A sentence of five words."], AugmentSettings(0, 0, 1), 0)
    assert result.pairs == [] and model.calls == []


def test_prompts_are_batched():
    questions = [f"What is item {i}?" for i in range(BATCH_PROMPTS + 3)]
    model = ScriptedModel({f"Question: {q}\n{REPHRASE_CUE}": [] for q in questions})
    out = sample(model, model.tokenizer, [rephrase_prompt(q) for q in questions], 2, seed=0, pad_id=0)
    assert len(out) == len(questions) and model.calls == [BATCH_PROMPTS, 3]  # prompts per call; each is sampled twice


def test_sampling_a_real_model_is_repeatable_and_follows_the_seed(tiny_llama):
    from transformers import AutoModelForCausalLM

    from dlmbuild.train.tokenizer import BaseTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_llama)
    tokenizer = BaseTokenizer(tiny_llama)
    prompts = [rephrase_prompt("Who leads the Ferrowind rota?"), prose_prompt("The rota hands over on Tuesday.")]
    first = sample(model, tokenizer, prompts, 3, seed=5, pad_id=2)
    assert first == sample(model, tokenizer, prompts, 3, seed=5, pad_id=2)
    assert first != sample(model, tokenizer, prompts, 3, seed=6, pad_id=2)
    assert [len(s) for s in first] == [3, 3]


def test_draw_reads_each_prompt_once_and_matches_plain_greedy_decoding(tiny_llama, monkeypatch):
    """With the nucleus narrowed to the top token, ``draw`` (one prefill per prompt, its cache
    copied per sample, stopped lines dropped from the batch) must write exactly what
    ``generate`` writes greedily for each prompt on its own."""
    import torch
    from transformers import AutoModelForCausalLM

    import dlmbuild.train.augment as augment_module
    from dlmbuild.train.tokenizer import BaseTokenizer

    monkeypatch.setattr(augment_module, "TOP_P", 1e-6)
    monkeypatch.setattr(augment_module, "MAX_NEW_TOKENS", 12)
    model = AutoModelForCausalLM.from_pretrained(tiny_llama).eval()
    tokenizer = BaseTokenizer(tiny_llama)
    prompts = [rephrase_prompt("Who leads the rota?"), "A much shorter prompt", prose_prompt("It hands over on Tuesday.")]
    encoded = [tokenizer.encode(p) for p in prompts]
    width = max(map(len, encoded))
    input_ids = torch.tensor([[2] * (width - len(ids)) + ids for ids in encoded])
    mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in encoded])
    with torch.no_grad():
        free = [model.generate(input_ids=torch.tensor([ids]), do_sample=False, max_new_tokens=12, pad_token_id=2)[0, len(ids):].tolist()
                for ids in encoded]
        stops = [free[0][2], free[1][6]]  # lines stop at different steps (the last one may run to the end)
        drawn = augment_module.draw(model, input_ids, mask, 2, torch.Generator().manual_seed(0), stops)
        expected = []
        for ids in encoded:
            out = model.generate(input_ids=torch.tensor([ids]), do_sample=False, max_new_tokens=12, eos_token_id=stops,
                                 pad_token_id=2)[0, len(ids):].tolist()
            cut = next((i + 1 for i, t in enumerate(out) if t in stops), len(out))
            expected += [out[:cut]] * 2
    assert drawn == expected
    assert len({len(row) for row in drawn}) > 1  # lines did stop at different steps
