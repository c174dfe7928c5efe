"""``:tokenize`` — every section tokenized on its own into training rows.

Rows follow the base's chat template and the document's system prompt, the same ones prompting
and export use. Instruction pairs get a loss mask derived by rendering: the prompt part (system +
user + generation prompt) is rendered and tokenized on its own, the answer after it, so the mask
is exact without relying on template markers the base may lack. Prose becomes continued-
pretraining text cut into ``sequence_len`` windows, never silently truncated.

Rows live in a diskcache (the token store) keyed by a memo key: (section id or source-file
content hash, tokenizer hash, chat template hash, system prompt, sequence length, loss-mask
mode). The target's output is ``index.json``: per section its memo key, routing, counts and a
digest of its rows, stored by column. An incremental run reuses the previous index for every memo key it already
lists, so editing one section of a 2,000-section document tokenizes one section, and reads no
unchanged source file.
"""

from __future__ import annotations

from functools import lru_cache, partial
from pathlib import Path
from typing import Any

import orjson

from dlmbuild.document.sections import Section, SectionType
from dlmbuild.document.sources import read_source_section, source_adapters
from dlmbuild.engine.hashing import hash_json, hash_text
from dlmbuild.engine.target import ActionContext, Target
from dlmbuild.errors import DocumentError, Location
from dlmbuild.rules.support import BaseInputs, routed_section_inputs, toolchain_of
from dlmbuild.train.tokenizer import FALLBACK_CHAT_TEMPLATE
from dlmbuild.util import memo
from dlmbuild.util.filesig import signature

NAME = "tokenize"
VERSION = 4  # 4: Q/A rows carry their text ("pair")
LOSS_MASK_MODE = "assistant-only"
INDEX = "index.json"
INDEX_FORMAT = 2
# The index is stored by column: 12,000 entries encode and decode in a third of the time of one
# JSON object per line, and an edited document rewrites the whole index on every build. orjson
# (a tenth of the stdlib's time here) writes it; VERSION 3 marks its bytes (UTF-8, not \u escapes).
COLUMNS = ("key", "type", "rows", "tokens", "digest", "id", "adapters", "source", "line")


def targets(project) -> list[Target]:
    """The one ``:tokenize`` target. Its inputs are each section's id with its routing (a
    section moved to another adapter must re-index), each source file's content hash and the
    tokenizer's files; its config slice is only what changes rows (system prompt, sequence
    length, adapter names, mask mode), so an export setting never re-tokenizes."""
    config = project.doc.config

    def inputs() -> dict[str, str]:
        named = routed_section_inputs(project)
        for section_id, digest in project.media_hashes.items():
            named[f"media:{section_id}"] = digest
        for rel, digest in project.source_hashes.items():
            named[f"file:{rel}"] = digest
        named.update(BaseInputs(project).tokenizer())
        return named

    return [
        Target(
            name=":tokenize",
            rule=NAME,
            version=VERSION,
            action=run,
            config={
                "system_prompt": config.system_prompt,
                "training.sequence_len": config.training.sequence_len,
                "training.adapters": config.training.adapter_names,
                "loss_mask": LOSS_MASK_MODE,
            },
            inputs=inputs,
            toolchain=lambda: toolchain_of("tokenizers", "jinja2"),
            description="tokenize every section with the base's tokenizer and chat template",
        )
    ]


# One unit to tokenize: (memo key, a document section or None, a source file or None); a file
# is read only if its key is new. Plain tuples: a named tuple doubles the cost of making 12,000.
_Item = tuple[str, "Section | None", Any]


def memo_key(project, base, identity: str) -> str:
    """The token store's key for one section or file identity (``section:<id>``, ``file:<hash>``):
    the same text under the same tokenizer and settings always finds the same rows."""
    return memo_keys(project, base)(identity)


def memo_keys(project, base):
    """``identity -> memo key`` for this document and base. What every key shares (tokenizer,
    chat template, system prompt, sequence length, mask mode, rule version) is hashed once, so
    keying 12,000 sections and files costs one short hash each, and a resident process (dlm
    server) looks the unchanged ones up instead."""
    config = project.doc.config
    shared = hash_json([base.tokenizer_hash, base.chat_template_hash, config.system_prompt,
                        config.training.sequence_len, LOSS_MASK_MODE, VERSION])
    return partial(_memo_key, shared)


@lru_cache(maxsize=1 << 16)
def _memo_key(shared: str, identity: str) -> str:
    return hash_text(f"{shared}\0{identity}")


memo.register("rules.tokenize.memo_keys", _memo_key.cache_clear)


def _items(project, base) -> list[_Item]:
    """Every unit to tokenize, in document order: sections, then selected source files."""
    key = memo_keys(project, base)
    media = project.media_hashes
    # a media section's rows depend on its file's bytes too (once a base reads the pixels)
    items: list[_Item] = [(key(f"section:{s.id}" + (f"@{media[s.id]}" if s.id in media else "")), s, None)
                          for s in project.doc.sections]
    hashes = project.source_hashes
    items += [(key(f"file:{hashes[file.relpath]}"), None, file) for file in project.sources.files]
    return items


def run(ctx: ActionContext) -> None:
    """The ``:tokenize`` action: write ``index.json`` for every section and selected file.

    Rows come from, in order: the previous index (a listed memo key's counts and digest are
    reused without touching the token store), the token store (rows made by an earlier build of
    any document on this base), or the tokenizer. Only the last reads the file or loads the
    tokenizer, so an edit tokenizes what it touched and nothing else."""
    project = ctx.project
    base = project.base()
    config = project.doc.config
    names = tuple(config.training.adapter_names)
    items = _items(project, base)
    previous = _previous_index(ctx) if config.training.cache.enabled else {}
    entries: list[tuple] = []  # one row of the index per item, in COLUMNS order
    tokenizer = None
    store = None  # the token store is opened only when some item is not in the previous index
    fresh = 0
    try:
        for memo_key, section, file in items:
            # A listed key's counts and digest are a pure function of the key, so they are
            # reused without asking the token store; rows evicted since are re-made by rows_for.
            known = previous.get(memo_key)
            if known is None:
                ctx.check_cancelled()
                read = section or read_source_section(file, names)
                if read is None:  # binary or not UTF-8: counted by `dlm show`, not trained
                    continue
                if store is None:
                    store = _token_store(project)
                rows = store.get(memo_key) if config.training.cache.enabled else None
                if rows is None:
                    if tokenizer is None:
                        tokenizer = load_tokenizer(base)
                    rows = tokenize_section(tokenizer, config.system_prompt, config.training.sequence_len, read, project.doc.path)
                    fresh += 1
                    store.set(memo_key, rows)
                tokens = sum(len(r.get("input_ids", ())) + len(r.get("chosen_ids", ())) for r in rows)
                known = (read.type.value, len(rows), tokens, hash_json(rows))
            if section is not None:
                entries.append((memo_key, *known, section.id, list(section.adapters), None, section.line))
            else:
                entries.append((memo_key, *known, None, list(source_adapters(file, names)), file.relpath, 0))
    finally:
        if store is not None:
            store.close()
    columns = {name: list(values) for name, values in zip(COLUMNS, zip(*entries))} if entries else {name: [] for name in COLUMNS}
    index = ctx.out_dir / INDEX
    index.write_bytes(orjson.dumps({"format": INDEX_FORMAT, "columns": columns}))
    _remember_index(index, columns)
    ctx.log(f":tokenize: {len(items)} sections, {fresh} tokenized now")


def _previous_index(ctx: ActionContext) -> dict[str, tuple]:
    """memo key -> (type, rows, tokens, digest) from the previous output, if any."""
    if ctx.previous_out is None:
        return {}
    try:
        columns = _read_columns(ctx.previous_out)
    except (OSError, ValueError, KeyError):  # none, or an index of an older layout: tokenize afresh
        return {}
    return dict(zip(columns["key"], zip(columns["type"], columns["rows"], columns["tokens"], columns["digest"])))


def _read_columns(folder) -> dict[str, list]:
    path = Path(folder) / INDEX
    sig = signature(path)
    held = _LAST_INDEX.get(sig) if sig is not None else None
    if held is not None:
        return held
    data = orjson.loads(path.read_bytes())
    if data.get("format") != INDEX_FORMAT:
        raise ValueError("index format")
    return data["columns"]


# {stat signature: columns} of the last index this process wrote (one entry at most). The
# action cache moves an output folder into place by renaming the folder, which keeps the file's
# inode and times, so a resident process (dlm server, --watch) reads its own last index back
# from memory: decoding 12,000 entries is most of what an edited build spends outside
# tokenizing the edit. An index changed on disk since (a different signature) is read from disk.
_LAST_INDEX: dict[tuple[int, ...], dict[str, list]] = memo.memo_dict("rules.tokenize.index")


def _remember_index(path: Path, columns: dict[str, list]) -> None:
    _LAST_INDEX.clear()
    sig = signature(path)
    if sig is not None:
        _LAST_INDEX[sig] = columns


def load_tokenizer(base):
    """The base's tokenizer, loaded once per process for the same files: a resident process
    (``dlm server``, ``--watch``) then tokenizes an edited section without reloading it."""
    return _tokenizer(str(base.path), base.tokenizer_hash, base.chat_template_hash)


@lru_cache(maxsize=4)
def _tokenizer(path: str, tokenizer_hash: str, chat_template_hash: str):
    from dlmbuild.train.tokenizer import BaseTokenizer

    return BaseTokenizer(Path(path))


memo.register("rules.tokenize.tokenizer", _tokenizer.cache_clear)


def tokenize_section(tokenizer, system_prompt: str | None, seq: int, section: Section, doc_path) -> list[dict[str, Any]]:
    """Training rows for one section (pure: depends only on the memo key's ingredients)."""
    if section.type is SectionType.INSTRUCTION:
        rows = []
        for pair in section.pairs:
            prompt_ids, answer_ids = chat_rows(tokenizer, system_prompt, pair.question, pair.answer)
            ids = prompt_ids + answer_ids
            if len(ids) > seq:
                raise DocumentError(
                    f"Q/A pair is {len(ids)} tokens, longer than training.sequence_len {seq}; shorten it or raise sequence_len",
                    Location(doc_path, pair.line, 1),
                )
            rows.append({"input_ids": ids, "loss_mask": [0] * len(prompt_ids) + [1] * len(answer_ids),
                         "pair": [pair.question, pair.answer]})
        return rows
    if section.type is SectionType.PREFERENCE:
        rows = []
        for triple in section.triples:
            prompt_ids, chosen = chat_rows(tokenizer, system_prompt, triple.prompt, triple.chosen)
            _, rejected = chat_rows(tokenizer, system_prompt, triple.prompt, triple.rejected)
            rows.append({"prompt_ids": prompt_ids, "chosen_ids": chosen, "rejected_ids": rejected})
        return rows
    text = section.text
    if section.type in (SectionType.IMAGE, SectionType.AUDIO):
        attrs = section.attributes
        text = "\n".join(t for t in (attrs.get("alt") or attrs.get("transcript"), section.text) if t)
    if not text.strip():
        return []
    ids = tokenizer.encode(text)
    if tokenizer.eos_token_id is not None:
        ids = ids + [tokenizer.eos_token_id]
    return [{"input_ids": ids[i : i + seq]} for i in range(0, len(ids), seq)]


def chat_rows(tokenizer, system_prompt: str | None, user: str, assistant: str) -> tuple[list[int], list[int]]:
    """(prompt ids, answer ids) for one exchange, split where generation would start."""
    template = None if tokenizer.chat_template else FALLBACK_CHAT_TEMPLATE
    messages = ([{"role": "system", "content": system_prompt}] if system_prompt else []) + [{"role": "user", "content": user}]
    prompt = tokenizer.render_chat(messages, add_generation_prompt=True, template=template)
    full = tokenizer.render_chat(messages + [{"role": "assistant", "content": assistant}], template=template)
    if not full.startswith(prompt):
        # A template that rewrites earlier turns once an answer follows: use the plain
        # continuation, which is what generation sees anyway.
        full = prompt + assistant + (tokenizer.eos_token or "")
    return tokenizer.encode(prompt), tokenizer.encode(full[len(prompt) :])


def read_index(folder) -> list[dict]:
    """The entries of a ``:tokenize`` output, in document order, one dict per section."""
    columns = _read_columns(folder)
    return [dict(zip(COLUMNS, values)) for values in zip(*(columns[name] for name in COLUMNS))]


def _token_store(project):
    import diskcache

    return diskcache.Cache(str(project.layout.tokens), size_limit=project.doc.config.training.cache.max_bytes)


def rows_for(project, keys: list[str]) -> list[dict]:
    """The rows of each memo key, in order, from the token store; a key evicted since
    ``:tokenize`` ran (``dlm cache clear``, size limit) is tokenized again from the document."""
    base = project.base()
    out: list[dict] = []
    missing: dict[str, int] = {}
    with _token_store(project) as store:
        found = []
        for key in keys:
            rows = store.get(key)
            found.append(rows)
            if rows is None:
                missing[key] = len(found) - 1
        if missing:
            names = tuple(project.doc.config.training.adapter_names)
            tokenizer = load_tokenizer(base)
            config = project.doc.config
            for memo_key, section, file in _items(project, base):
                if memo_key in missing:
                    section = section or read_source_section(file, names)
                    found[missing.pop(memo_key)] = [] if section is None else tokenize_section(
                        tokenizer, config.system_prompt, config.training.sequence_len, section, project.doc.path)
    for rows in found:
        out += rows or []
    return out


def memo_rows(project, identity: str, section: Section) -> list[dict]:
    """Rows of a section known by identity (a replayed version), memoized in the token store."""
    base = project.base()
    config = project.doc.config
    key = memo_key(project, base, identity)
    with _token_store(project) as store:
        rows = store.get(key)
        if rows is None:
            rows = tokenize_section(load_tokenizer(base), config.system_prompt, config.training.sequence_len, section, project.doc.path)
            store.set(key, rows)
    return rows
