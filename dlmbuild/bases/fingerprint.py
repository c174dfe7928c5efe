"""Content fingerprints of a base model folder: weights, tokenizer, chat template, architecture.

Everything here reads files only (json, xxhash); it never imports torch or transformers, so a
command can fingerprint a base in milliseconds when the engine's ``file_hash`` caches by stat.

- ``weights_hash``: xxh3-128 over ``"<name>\\0<content hash>\\n"`` for every ``*.safetensors`` file
  at the top of the folder, sorted by name. Renaming or re-sharding changes it.
- ``tokenizer_hash``: the same construction over the tokenizer files present (``TOKENIZER_FILES``).
  ``chat_template.jinja`` is not one of them: the template has its own hash. A template stored
  inside ``tokenizer_config.json`` (the older layout) therefore moves both hashes.
- ``chat_template_hash``: xxh3-128 of the template text, UTF-8; no template hashes like ``""``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import xxhash

FileHash = Callable[[Path], str]

WEIGHT_GLOB = "*.safetensors"
# Files a tokenizer is loaded from, in the layouts transformers writes or reads.
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "tokenizer.model",
    "spiece.model",
    "sentencepiece.bpe.model",
    "vocab.json",
    "merges.txt",
    "vocab.txt",
)
# Files that alone make a usable tokenizer (tokenizer_config.json by itself does not).
TOKENIZER_CORE_FILES = ("tokenizer.json", "tokenizer.model", "spiece.model", "sentencepiece.bpe.model", "vocab.json", "vocab.txt")

_CHUNK = 1 << 20
_memo: dict[tuple[str, int, int, int, int], str] = {}


def default_file_hash(path: Path) -> str:
    """xxh3-128 hex of a file's bytes, streamed; memoised per process by (path, dev, inode, size, mtime)."""
    st = os.stat(path)
    key = (os.fspath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    cached = _memo.get(key)
    if cached is not None:
        return cached
    digest = xxhash.xxh3_128()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    value = digest.hexdigest()
    _memo[key] = value
    return value


def text_hash(text: str) -> str:
    """xxh3-128 of a text's UTF-8 bytes (the chat template's hash in keys)."""
    return xxhash.xxh3_128_hexdigest(text.encode("utf-8"))


def combine(entries: Iterable[tuple[str, str]]) -> str:
    """One hash over (name, content hash) pairs, order-independent (sorted by name)."""
    digest = xxhash.xxh3_128()
    for name, value in sorted(entries):
        digest.update(f"{name}\0{value}\n".encode())
    return digest.hexdigest()


def weight_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob(WEIGHT_GLOB) if p.is_file())


def tokenizer_files(folder: Path) -> list[Path]:
    return [folder / name for name in TOKENIZER_FILES if (folder / name).is_file()]


def has_tokenizer(folder: Path) -> bool:
    return any((folder / name).is_file() for name in TOKENIZER_CORE_FILES)


def files_hash(files: Iterable[Path], file_hash: FileHash) -> str:
    """One hash over files by name and content, so a renamed shard changes it and a touched one does not."""
    return combine((p.name, file_hash(p)) for p in files)


def weights_hash(folder: Path, file_hash: FileHash = default_file_hash) -> str:
    """The base's weights as one key component: training and merge rebuild when it moves."""
    return files_hash(weight_files(folder), file_hash)


def tokenizer_hash(folder: Path, file_hash: FileHash = default_file_hash) -> str:
    """The tokenizer files as one key component: tokenize rebuilds when it moves."""
    return files_hash(tokenizer_files(folder), file_hash)


def chat_template_text(folder: Path) -> str | None:
    """The default chat template, looked up the way transformers saves it.

    ``chat_template.jinja`` first (transformers >= 4.5x), then ``chat_template.json``, then the
    ``chat_template`` entry of ``tokenizer_config.json`` (a string, or a list of named templates
    of which ``default`` is taken, else the first). None when there is none.
    """
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    for name in ("chat_template.json", "tokenizer_config.json"):
        data = _read_json(folder / name)
        if isinstance(data, dict):
            found = _template_from(data.get("chat_template"))
            if found is not None:
                return found
    return None


def chat_template_hash(template: str | None) -> str:
    """The template's hash; no template hashes as the empty string, so adding one is a change."""
    return text_hash(template or "")


def _template_from(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        named = {item.get("name"): item.get("template") for item in value if isinstance(item, dict)}
        chosen = named.get("default")
        if chosen is None and named:
            chosen = next(iter(named.values()))
        return chosen if isinstance(chosen, str) else None
    return None


def read_config(folder: Path) -> dict | None:
    data = _read_json(folder / "config.json")
    return data if isinstance(data, dict) else None


def architecture_of(config: dict) -> str | None:
    """``architectures[0]`` of a config.json, or None when it is missing or malformed."""
    archs = config.get("architectures")
    if isinstance(archs, list) and archs and isinstance(archs[0], str):
        return archs[0]
    return None


class BadJson(ValueError):
    """A metadata file that exists but is not valid JSON (or not readable)."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def _read_json(path: Path) -> object:
    """Parsed JSON, or None when the file does not exist; ``BadJson`` when it cannot be parsed."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise BadJson(path, f"not valid JSON ({exc})") from None
    except OSError as exc:
        raise BadJson(path, f"cannot read ({exc.strerror or exc})") from None
