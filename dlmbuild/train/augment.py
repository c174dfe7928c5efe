"""Questions the base writes for itself: other wordings of the document's questions, and
questions whose answer is a sentence of its prose.

Why: an adapter trained on one wording of each question learns that wording. Asked the same
thing in other words it answered 2 of 16 runbook questions, where the untrained base reading the
document got 9 (benchmarks/quality.py). Training on several wordings of each question, each with
the document's own answer, teaches the fact rather than the string (10 of 16 in the same
benchmark). Facts stated only in prose have no question at all; a question written from each
prose sentence, answered by that sentence verbatim, gives them one.

The base writes both by plain completion of a few-shot pattern (``Question: ... / The same
question in other words: ...``), which even a 135M model continues sensibly where it cannot
follow an instruction to rephrase. Its output is filtered, never trusted: a rewording must keep
every name, number and identifier of the original (so it still asks about the same thing), and
a prose question must name what the sentence is about and not give away its last term
(usually the fact). Answers are never generated: a
rewording takes the document's answer, a prose question the sentence itself, so nothing the
model invents becomes a fact.

Sampling is seeded and runs in float32 without autocast, so the same rows, base and seed give
the same questions on one machine class; the text is written beside the adapter
(``augment.jsonl``) so a user can read what it trained on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

REPHRASE_SHOTS = (
    ("What time does the library open on Saturdays?", "On Saturdays, when do the library doors open?"),
    ("Who designed the Harrow Street bridge?", "Which engineer was responsible for the design of the bridge on Harrow Street?"),
    ("How much does a monthly bus pass cost?", "What is the price of a bus pass that lasts one month?"),
    ("Which command restarts the print server?", "To restart the print server, what should I run?"),
)
PROSE_SHOTS = (
    ("The north gate of Pellow Park closes at 8 pm in winter.", "When does the north gate of Pellow Park close in winter?"),
    ("The school choir was founded by Marta Ilves in 1962.", "Who founded the school choir?"),
    ("Orders over 40 euros ship free within the country.", "Above what amount do orders ship for free?"),
    ("Run `make docs` to rebuild the manual.", "Which command rebuilds the manual?"),
)
REPHRASE_CUE = "The same question in other words:"
PROSE_CUE = "A question this text answers:"
MAX_NEW_TOKENS = 28
BATCH_PROMPTS = 6  # x 9 samples: 54 sequences, whose KV cache stays under half a GB on the 135M base
PROSE_SAMPLES = 6
TEMPERATURE = 0.9
TOP_P = 0.95
_WORD = re.compile(r"[\w.`'/-]+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9`\"'(])")
_STOP = frozenset("a an the of to in on at for by with and or is are was were be been do does did what which who whom "
                  "whose when where why how that this these those it its as from into than then there their they "
                  "i me my we our you your he she his her can could should would will shall may might must not no "
                  "if about every each all some any most many more new old one two three four five six seven eight nine "
                  "ten first last next after before during while since until also but so".split())


@dataclass(frozen=True)
class AugmentSettings:
    """How much to write: rewordings per question (0: none), and at most this many prose
    questions (0: none), spread evenly over the prose when it has more sentences."""

    rephrasings: int
    prose_questions: int
    seed: int


@dataclass
class Augmented:
    """What the base wrote: ``(question, answer, kind)`` with kind ``rephrasing`` or ``prose``,
    and how many candidates it sampled to get them (the rest failed the filters)."""

    pairs: list[tuple[str, str, str]] = field(default_factory=list)
    sampled: int = 0

    def count(self, kind: str) -> int:
        return sum(1 for *_, k in self.pairs if k == kind)


def ordered_key_terms(text: str) -> list[str]:
    """The words a question cannot lose and still ask the same thing, in order: names
    (capitalised words, a first word only when it is not a common one), code (in backticks), and anything with a digit,
    underscore, dot or slash."""
    out: list[str] = []
    for i, word in enumerate(_WORD.findall(text)):
        bare = word.strip("`.'?,:;!-").lower()
        raw = word.strip("`.'?,:;!-")
        named = raw[:1].isupper() and (i > 0 or bare not in _STOP)  # a sentence's first word only if it is not a common one
        if bare and (named or re.search(r"[\d_./]", bare) or "`" in word) and bare not in out:
            out.append(bare)
    return out


def key_terms(text: str) -> set[str]:
    return set(ordered_key_terms(text))


def content_words(text: str) -> set[str]:
    return {w.strip("`.'?,:;!-").lower() for w in _WORD.findall(text)} - _STOP - {""}


def normalised(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def first_line(completion: str) -> str:
    """The candidate: what the model wrote up to its first line break or special token."""
    return completion.split("\n", 1)[0].split("<|", 1)[0].strip()


def well_formed(candidate: str) -> bool:
    return candidate.endswith("?") and 4 <= len(candidate.split()) <= 30


def accept_rephrasing(candidate: str, question: str, seen: set[str]) -> bool:
    """A rewording is kept when it is a question, new, keeps every key term of the original and
    brings in no number of its own ("... available on port 8881?" would train a wrong number
    with the document's answer)."""
    if not well_formed(candidate) or normalised(candidate) in seen:
        return False
    low = candidate.lower()
    original = key_terms(question)
    invented = {term for term in key_terms(candidate) if re.search(r"\d", term)} - original
    return all(term in low for term in original) and not invented


def accept_prose_question(candidate: str, sentence: str) -> bool:
    """A prose question is kept when it is a question about what the sentence is about without
    giving its answer away. English puts the new fact last ("... is called Gantry", "... on port
    7461"), so with two or more key terms the question must name one of the others and not the
    last; with one, it must name it; with none, share a content word."""
    if not well_formed(candidate) or normalised(candidate) == normalised(sentence):
        return False
    low = candidate.lower()
    terms = ordered_key_terms(sentence)
    if len(terms) >= 2:
        return terms[-1] not in low and any(term in low for term in terms[:-1])
    if terms:
        return terms[0] in low
    return bool(content_words(candidate) & content_words(sentence))


def prose_sentences(texts: list[str], limit: int) -> list[str]:
    """Statements of the prose (headings, questions, fragments and very long ones left out), at most
    ``limit`` of them, evenly spread when there are more."""
    sentences = []
    for text in texts:
        for paragraph in re.split(r"\n\s*\n", text):
            lines = [line for line in paragraph.splitlines() if line.strip() and not line.lstrip().startswith(("#", "```", "::"))]
            for sentence in _SENTENCE_END.split(" ".join(line.strip() for line in lines)):
                sentence = sentence.strip()
                # a statement (not a question), long enough to hold a fact; notes often drop the full stop
                if not sentence.endswith(("?", ":")) and 5 <= len(sentence.split()) <= 60:
                    sentences.append(sentence)
    if limit <= 0 or not sentences:
        return []
    if len(sentences) <= limit:
        return sentences
    return [sentences[(i * len(sentences)) // limit] for i in range(limit)]


def rephrase_prompt(question: str) -> str:
    shots = "".join(f"Question: {a}\n{REPHRASE_CUE} {b}\n\n" for a, b in REPHRASE_SHOTS)
    return f"{shots}Question: {question}\n{REPHRASE_CUE}"


def prose_prompt(sentence: str) -> str:
    shots = "".join(f"Text: {a}\n{PROSE_CUE} {b}\n\n" for a, b in PROSE_SHOTS)
    return f"{shots}Text: {sentence}\n{PROSE_CUE}"


def sample(model, tokenizer, prompts: list[str], per_prompt: int, seed: int, pad_id: int, device: str = "cpu") -> list[list[str]]:
    """``per_prompt`` seeded samples for each prompt (first lines only), in float32 with the
    model in eval mode; batched, left-padded, each batch seeded from ``seed`` and its index so
    a batch's samples do not depend on the batches before it."""
    import torch

    was_training = model.training
    model.eval()
    # a sample ends at its first line break (only its first line is read) or end of text
    newline = tokenizer.encode("\n")
    stops = ([newline[0]] if len(newline) == 1 else []) + ([tokenizer.eos_token_id] if getattr(tokenizer, "eos_token_id", None) is not None else [])
    out: list[list[str]] = []
    try:
        for index in range(0, len(prompts), BATCH_PROMPTS):
            chunk = prompts[index : index + BATCH_PROMPTS]
            encoded = [tokenizer.encode(p) for p in chunk]
            width = max(len(ids) for ids in encoded)
            input_ids = torch.tensor([[pad_id] * (width - len(ids)) + ids for ids in encoded], device=device)
            mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in encoded], device=device)
            generator = torch.Generator(device=device).manual_seed(seed + index)
            with torch.no_grad():
                tails = draw(model, input_ids, mask, per_prompt, generator, stops)
            for p in range(len(chunk)):
                out.append([first_line(tokenizer.decode(tails[p * per_prompt + s], skip_special_tokens=False))
                            for s in range(per_prompt)])
    finally:
        model.train(was_training)
    return out


def draw(model, input_ids, mask, per_prompt: int, generator, stops: list[int]) -> list[list[int]]:
    """Up to ``MAX_NEW_TOKENS`` sampled tokens (temperature, then nucleus) for each of
    ``per_prompt`` copies of every row, in row order, each ending at its first stop token.

    Each prompt is read once and its key/value cache is then copied for its samples: the
    few-shot prompts are long and the samples short, so reading each prompt once per sample
    (as ``generate(num_return_sequences=...)`` does) was most of the sampling time. Rows that
    have stopped leave the batch once a quarter of it has, so short samples do not pay for
    long ones. Every row draws from the one seeded generator in a fixed order, so the same
    inputs and seed give the same tokens."""
    import torch

    name = cache_argument(model)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    result = model(input_ids=input_ids, attention_mask=mask, position_ids=positions, use_cache=True)
    cache = output_cache(result)
    logits = result.logits[:, -1].float().repeat_interleave(per_prompt, dim=0)
    del result  # the prefill's logits cover every prompt position: free them before the cache grows
    cache.batch_repeat_interleave(per_prompt)
    mask = mask.repeat_interleave(per_prompt, dim=0)
    position = positions[:, -1:].repeat_interleave(per_prompt, dim=0)
    stop = torch.tensor(stops or [-1], device=mask.device)
    rows: list[list[int]] = [[] for _ in range(mask.shape[0])]
    alive = torch.arange(mask.shape[0], device=mask.device)  # which row each batch line is
    running = torch.ones(mask.shape[0], dtype=torch.bool, device=mask.device)
    for step in range(MAX_NEW_TOKENS):
        chosen = nucleus(logits, generator)
        for line, (row, token) in enumerate(zip(alive.tolist(), chosen.tolist(), strict=True)):
            if running[line]:
                rows[row].append(token)
        running = running & ~torch.isin(chosen, stop)
        if not bool(running.any()) or step == MAX_NEW_TOKENS - 1:
            break
        if int(running.sum()) <= 0.75 * len(alive):  # drop the stopped lines from the batch and its cache
            keep = running.nonzero().squeeze(-1)
            cache.reorder_cache(keep)
            alive, running, chosen, mask, position = alive[keep], running[keep], chosen[keep], mask[keep], position[keep]
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        position = position + 1
        result = model(input_ids=chosen[:, None], attention_mask=mask, position_ids=position, use_cache=True, **{name: cache})
        cache = output_cache(result)
        logits = result.logits[:, -1].float()
    return rows


def cache_argument(model) -> str:
    """What this transformers calls the key/value cache argument (``cache`` from 5.x on,
    ``past_key_values`` before)."""
    import inspect

    forward = getattr(type(model), "forward", None)
    try:
        return "cache" if forward is not None and "cache" in inspect.signature(forward).parameters else "past_key_values"
    except (TypeError, ValueError):
        return "past_key_values"


def output_cache(result):
    fields = getattr(result, "__dataclass_fields__", {})
    return result["cache"] if "cache" in fields else result.past_key_values


def nucleus(logits, generator):
    """One token per row: softmax at ``TEMPERATURE``, keep the smallest set of most likely
    tokens whose probability reaches ``TOP_P``, draw from it with ``generator``."""
    import torch

    probs = torch.softmax(logits / TEMPERATURE, dim=-1)
    ordered, order = probs.sort(dim=-1, descending=True)
    before = ordered.cumsum(-1) - ordered  # probability of the tokens ranked above each one
    ordered = ordered.masked_fill(before >= TOP_P, 0.0)
    picked = torch.multinomial(ordered, 1, generator=generator)
    return order.gather(-1, picked).squeeze(-1)


def release_freed_memory() -> None:
    """Hand memory the sampler freed back to the operating system before training starts.

    Sampling holds a key/value cache for dozens of sequences and copies it as the batch grows
    and shrinks; glibc keeps the freed blocks in the process, and training's own allocations do
    not always fit into them, so without this the build's peak RSS was sampling's heap plus
    training's (3.59 GB instead of 2.9 GB on a 10-question document). Changes no number."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim
        pass


def augment(model, tokenizer, pairs: list[tuple[str, str]], prose: list[str], settings: AugmentSettings, pad_id: int,
            device: str = "cpu") -> Augmented:
    """Rewordings of each ``(question, answer)`` and questions from the ``prose`` texts."""
    result = Augmented()
    if settings.rephrasings > 0 and pairs:
        samples = max(4, settings.rephrasings * 3)
        drawn = sample(model, tokenizer, [rephrase_prompt(q) for q, _ in pairs], samples, settings.seed, pad_id, device)
        for (question, answer), candidates in zip(pairs, drawn, strict=True):
            seen = {normalised(question)}
            result.sampled += len(candidates)
            for candidate in candidates:
                if accept_rephrasing(candidate, question, seen):
                    seen.add(normalised(candidate))
                    result.pairs.append((candidate, answer, "rephrasing"))
                    if len(seen) > settings.rephrasings:
                        break
    sentences = prose_sentences(prose, settings.prose_questions)
    if sentences:
        drawn = sample(model, tokenizer, [prose_prompt(s) for s in sentences], PROSE_SAMPLES, settings.seed + 1_000_003, pad_id, device)
        for sentence, candidates in zip(sentences, drawn, strict=True):
            chosen = next((c for c in candidates if accept_prose_question(c, sentence)), None)
            result.sampled += len(candidates)
            if chosen is not None:
                result.pairs.append((chosen, sentence, "prose"))
    release_freed_memory()
    return result
