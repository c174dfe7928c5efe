"""Rendering new sections and YAML values as text, for the lossless editor.

Rendered text must parse back to exactly what was asked for. So a draft whose content contains a
line the parser would read as structure (a fence, a ``### Q`` header in the wrong place, an
unbalanced code fence) is refused rather than silently changed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from dlmbuild.document.sections import FENCE_ATTRIBUTES, PROVENANCE_KINDS, Provenance, SectionType
from dlmbuild.errors import DlmError

_FENCE_LINE = re.compile(r"^::[A-Za-z]")
_HEADER_LINE = re.compile(r"^###[ \t]+(?:Q|A|Prompt|Chosen|Rejected)[ \t]*$")
_CODE_FENCE = re.compile(r"^(?:```|~~~)")
_PLAIN_SCALAR = re.compile(r"^[A-Za-z_./][A-Za-z0-9_./@+-]*$")
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}
# Plain words YAML 1.1 reads as floats: '.5', '.inf', '.NaN'.
_FLOATISH = re.compile(r"^[-+]?\.(?:[0-9]|inf$|Inf$|INF$|nan$|NaN$|NAN$)")


@dataclass(frozen=True)
class SectionDraft:
    """A section to add. ``pairs`` / ``triples`` for structured types, ``text`` otherwise."""

    type: SectionType
    text: str = ""
    adapter: str | None = None
    attrs: tuple[tuple[str, str], ...] = ()
    pairs: tuple[tuple[str, str], ...] = ()
    triples: tuple[tuple[str, str, str], ...] = ()
    provenance: Provenance | None = None


def render_section(draft: SectionDraft, newline: str = "\n") -> str:
    """The fenced text of ``draft``, ending with a line ending. Always fenced, prose included,
    so that it cannot merge into whatever section precedes it."""
    required, optional = FENCE_ATTRIBUTES[draft.type]
    for key in required:
        if not dict(draft.attrs).get(key, "").strip():
            raise DlmError(f"cannot add {draft.type.value} section: attribute '{key}' is required")
    attrs = "".join(f' {k}="{_quote(v)}"' for k, v in draft.attrs)
    suffix = f"#{draft.adapter}" if draft.adapter else ""
    lines = [f"::{draft.type.value}{suffix}{attrs}::"]
    if draft.provenance is not None:
        lines.append(render_provenance(draft.provenance))
    if draft.type is SectionType.INSTRUCTION:
        if not draft.pairs:
            raise DlmError("cannot add an instruction section without Q/A pairs")
        for question, answer in draft.pairs:
            lines += ["### Q", _block(question, "question"), "", "### A", _block(answer, "answer"), ""]
    elif draft.type is SectionType.PREFERENCE:
        if not draft.triples:
            raise DlmError("cannot add a preference section without triples")
        for prompt, chosen, rejected in draft.triples:
            lines += ["### Prompt", _block(prompt, "prompt"), "### Chosen", _block(chosen, "chosen"),
                      "### Rejected", _block(rejected, "rejected"), ""]
    else:
        body = _block(draft.text, "text", allow_empty=True, allow_headers=True)
        if body:
            lines.append(body)
    while len(lines) > 1 and lines[-1] == "":
        lines.pop()
    # Multi-line content comes back from _block joined with LF; a CRLF document must get CRLF
    # on every added line, not just between the structural ones.
    return ("\n".join(lines) + "\n").replace("\n", newline)


def render_provenance(provenance: Provenance) -> str:
    if provenance.kind not in PROVENANCE_KINDS:
        raise DlmError(f"unknown provenance kind '{provenance.kind}'")
    fields = "".join(f' {k}="{_quote(v)}"' for k, v in provenance.fields)
    return f"<!-- {provenance.kind}{fields} -->"


def _quote(value: str) -> str:
    if "\n" in value or "\r" in value:
        raise DlmError("attribute values must be on one line")
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _block(text: str, what: str, *, allow_empty: bool = False, allow_headers: bool = False) -> str:
    text = text.replace("\r\n", "\n").strip("\n")
    if not text.strip() and not allow_empty:
        raise DlmError(f"cannot add a section with an empty {what}")
    in_code = False
    for line in text.split("\n"):
        if _CODE_FENCE.match(line):
            in_code = not in_code
        elif not in_code and _FENCE_LINE.match(line):
            raise DlmError(f"{what} has a line that would read as a section fence: {line!r}")
        elif not in_code and not allow_headers and _HEADER_LINE.match(line.rstrip()):
            raise DlmError(f"{what} has a line that would read as a section header: {line!r}")
    if in_code:
        raise DlmError(f"{what} opens a code block it never closes")
    if text.lstrip().startswith("<!-- auto-"):
        raise DlmError(f"{what} starts with a provenance comment; pass provenance separately")
    return "\n".join(line.rstrip() for line in text.split("\n"))


def renderable(text: str) -> bool:
    """Whether generated ``text`` can be a question, answer or preference part as written: not
    empty, no line that would read as a fence or header, no unclosed code block. Generators drop
    what is not, rather than fail a write."""
    try:
        _block(text, "text")
    except DlmError:
        return False
    return True


def render_yaml_value(value: Any) -> str:
    """A YAML flow rendering of ``value`` that loads back to the same value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return json.dumps(value)
    if isinstance(value, float):
        return _yaml_float(value)
    if isinstance(value, str):
        if _PLAIN_SCALAR.match(value) and value.lower() not in _YAML_WORDS and not _FLOATISH.match(value):
            return value
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(render_yaml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{render_yaml_value(str(k))}: {render_yaml_value(v)}" for k, v in value.items()) + "}"
    raise DlmError(f"cannot write a value of type {type(value).__name__} to the frontmatter")


def _yaml_float(value: float) -> str:
    """YAML 1.1 (PyYAML) reads ``1e-05`` as a *string*: a float needs a dot and a signed
    exponent, and infinities and NaN have their own spellings."""
    if value != value:
        return ".nan"
    if value in (float("inf"), float("-inf")):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value)
    if "e" in text and "." not in text.split("e")[0]:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}.0e{exponent if exponent[0] in '+-' else '+' + exponent}"
    return text
