"""Probe files: the questions ``dlm eval`` asks and what a passing answer must contain.

Two spellings, chosen by extension. ``.tsv`` (the benchmark files) is one probe a line,
``kind<TAB>question<TAB>expected`` with ``expected`` a regex; ``.jsonl`` adds a list of
acceptable strings and a reference answer, which ``dlm harvest`` writes back as the ``### A``.
A bad row is refused with its line (and field) before any model loads, so a typo costs a second,
not a model load.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from dlmbuild.errors import DocumentError, Location
from dlmbuild.util.suggest import did_you_mean

KIND = re.compile(r"[a-z][a-z0-9_-]*\Z")
DEFAULT_KIND = "trained"
RESERVED_KIND = "all"  # the summary row of every kind together
JSONL_FIELDS = ("question", "expected", "kind", "answer")
# Characters with a meaning in a Python regex; a pattern free of them matches itself literally.
REGEX_META = frozenset(".^$*+?{}[]\\|()")


@dataclass(frozen=True)
class Expected:
    """What a passing answer holds: a regex searched case-insensitively, or any of several
    strings as case-insensitive substrings."""

    regex: str | None = None
    any_of: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {"regex": self.regex} if self.regex is not None else {"any_of": list(self.any_of)}

    @classmethod
    def from_dict(cls, data: dict) -> Expected:
        if "regex" in data:
            return cls(regex=data["regex"])
        return cls(any_of=tuple(data["any_of"]))


@dataclass(frozen=True)
class Probe:
    """One question. ``line`` is its 1-based line in the probe file (the report's key for it);
    ``answer`` is the reference answer harvest writes back, or None when there is none."""

    line: int
    kind: str
    question: str
    expected: Expected
    answer: str | None = None


def literal(pattern: str) -> str | None:
    """``pattern`` itself when it has no regex metacharacter (so it is its own answer)."""
    return None if any(c in REGEX_META for c in pattern) else pattern


def load_probes(path: str | Path) -> list[Probe]:
    """Every probe in a ``.tsv`` or ``.jsonl`` file; a DocumentError (exit 2) locating the first
    bad row, or saying the file holds none."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".tsv", ".jsonl"):
        raise DocumentError("a probe file ends in .tsv (kind<TAB>question<TAB>expected) or .jsonl", Location(path))
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise DocumentError("no such probe file", Location(path)) from None
    except IsADirectoryError:
        raise DocumentError("is a folder, not a probe file", Location(path)) from None
    except UnicodeDecodeError as exc:
        raise DocumentError(f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x})", Location(path)) from None
    except OSError as exc:
        raise DocumentError(f"cannot read: {exc.strerror}", Location(path)) from None
    reader = _tsv_row if suffix == ".tsv" else _jsonl_row
    probes = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or (suffix == ".tsv" and stripped.startswith("#")):
            continue
        probes.append(reader(path, number, line.rstrip("\r\n")))
    if not probes:
        what = "every line is blank or a comment" if suffix == ".tsv" else "every line is blank"
        raise DocumentError(f"no probes ({what})", Location(path))
    return probes


def _tsv_row(path: Path, number: int, line: str) -> Probe:
    fields = line.split("\t")
    if len(fields) != 3:
        raise DocumentError(f"expected 3 tab-separated fields, got {len(fields)}", Location(path, number))
    kind, question, pattern = (f.strip() for f in fields)
    _check_kind(kind, Location(path, number, 1))
    if not question:
        raise DocumentError("empty question", Location(path, number, 2))
    _check_pattern(pattern, Location(path, number, 3))
    return Probe(number, kind, question, Expected(regex=pattern), literal(pattern))


def _jsonl_row(path: Path, number: int, line: str) -> Probe:
    here = Location(path, number)
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DocumentError(f"not valid JSON: {exc.msg}", Location(path, number, exc.colno)) from None
    if not isinstance(data, dict):
        raise DocumentError(f"expected a JSON object, got {_json_type(data)}", here)
    for key in data:
        if key not in JSONL_FIELDS:
            raise DocumentError(f"unknown field '{key}'{did_you_mean(key, JSONL_FIELDS)}; a probe has "
                                f"{', '.join(JSONL_FIELDS)}", here)
    for key in ("question", "expected"):
        if key not in data:
            raise DocumentError(f"missing field '{key}'", here)
    question = _string(data, "question", here).strip()
    if not question:
        raise DocumentError("empty question", here)
    kind = _string(data, "kind", here) if "kind" in data else DEFAULT_KIND
    _check_kind(kind, here)
    answer = data.get("answer")
    if answer is not None:
        answer = _string(data, "answer", here).strip() or None
    raw = data["expected"]
    if isinstance(raw, str):
        _check_pattern(raw, here)
        expected = Expected(regex=raw)
        fallback = literal(raw)
    elif isinstance(raw, list) and raw and all(isinstance(item, str) and item.strip() for item in raw):
        expected = Expected(any_of=tuple(raw))
        fallback = raw[0]
    else:
        raise DocumentError("field 'expected' must be a regex string or a non-empty list of non-empty strings, "
                            f"got {_json_type(raw) if not isinstance(raw, list) else 'another list'}", here)
    return Probe(number, kind, question, expected, answer if answer is not None else fallback)


def _string(data: dict, key: str, here: Location) -> str:
    value = data[key]
    if not isinstance(value, str):
        raise DocumentError(f"field '{key}' must be a string, got {_json_type(value)}", here)
    return value


def _check_kind(kind: str, here: Location) -> None:
    if not KIND.match(kind):
        raise DocumentError(f"bad kind '{kind}': a kind is a lowercase name ([a-z][a-z0-9_-]*), e.g. trained, paraphrase, prose", here)
    if kind == RESERVED_KIND:
        raise DocumentError(f"bad kind '{kind}': the summary uses '{RESERVED_KIND}' for every probe together", here)


def _check_pattern(pattern: str, here: Location) -> None:
    if not pattern.strip():
        raise DocumentError("empty expected-answer pattern (it would match every answer)", here)
    try:
        re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise DocumentError(f"bad expected-answer pattern: {exc.msg}", here) from None


def _json_type(value) -> str:
    """The JSON name of a decoded value's type, as a user wrote it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"
