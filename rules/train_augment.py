"""The ``:train-<name>`` step that adds the base's own questions to an adapter's rows
(``train/augment.py`` says why and how they are written and filtered).

It runs inside ``:train``, after the base is loaded and before packing: the questions are
sampled from the base, so they belong to the machine-bound training target (same class, same
questions), and ``training.augment`` is in its key. The document's own rows still decide when
training stops and what ``dlm verify`` probes; the written rows only add wordings. They are
rendered exactly as ``:tokenize`` renders a Q/A pair (``rules/tokenize.chat_rows``) and written
beside the adapter as ``augment.jsonl``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dlmbuild.rules import tokenize

AUGMENT_FILE = "augment.jsonl"


def source_texts(rows: list[dict], tokenizer) -> tuple[list[tuple[str, str]], list[str]]:
    """The document's ``(question, answer)`` pairs and its prose texts, from an adapter's rows."""
    pairs, prose = [], []
    for row in rows:
        if row.get("pair"):
            pairs.append((row["pair"][0], row["pair"][1]))
        elif not row.get("loss_mask"):
            prose.append(tokenizer.decode(row["input_ids"], skip_special_tokens=True))
    return pairs, prose


def augmented_rows(project, name: str, rows: list[dict], load_model: Callable[[], Any], device: str, out_dir: Path,
                   log) -> tuple[list[dict], dict]:
    """Rows for the questions the base writes, and a summary for ``dlm-train.json``. Nothing is
    written, and the base is not loaded (``load_model``), when ``training.augment`` asks for
    nothing or the rows have nothing to reword."""
    from dlmbuild.train.augment import AugmentSettings, augment

    config = project.doc.config
    knobs = config.training.augment
    summary = {"rephrasings": 0, "prose_questions": 0, "sampled": 0}
    if knobs.rephrasings == 0 and knobs.prose_questions == 0:
        return [], summary
    tokenizer = tokenize.load_tokenizer(project.base())
    pad_id = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
    pairs, prose = source_texts(rows, tokenizer)
    if not pairs and not prose:
        return [], summary
    model = load_model()
    started = time.perf_counter()
    settings = AugmentSettings(knobs.rephrasings, knobs.prose_questions, config.training.seed)
    written = augment(model, tokenizer, pairs, prose, settings, pad_id, device)
    extra = []
    seq = config.training.sequence_len
    with open(out_dir / AUGMENT_FILE, "w", encoding="utf-8") as handle:
        for question, answer, kind in written.pairs:
            prompt_ids, answer_ids = tokenize.chat_rows(tokenizer, config.system_prompt, question, answer)
            if len(prompt_ids) + len(answer_ids) > seq:
                continue
            extra.append({"input_ids": prompt_ids + answer_ids, "loss_mask": [0] * len(prompt_ids) + [1] * len(answer_ids)})
            handle.write(json.dumps({"kind": kind, "question": question, "answer": answer}, ensure_ascii=False) + "\n")
    # no seconds in the summary: it is part of the adapter's output, whose bytes must repeat
    summary = {"rephrasings": written.count("rephrasing"), "prose_questions": written.count("prose"), "sampled": written.sampled}
    log(f":train-{name}: the base wrote {summary['rephrasings']} rewordings of {len(pairs)} questions and "
        f"{summary['prose_questions']} questions from prose ({written.sampled} sampled, {time.perf_counter() - started:.1f}s; "
        f"{AUGMENT_FILE})")
    return extra, summary
