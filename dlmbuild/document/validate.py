"""Validating loaded frontmatter against the schema, reporting the first error at its position.

Pydantic reports errors by field path (``('training', 'lora_r')``); the frontmatter's node tree
turns that path into a line and column. Unknown keys get a 'did you mean' from the fields the
model at that level accepts.

A setting the schema accepts but this dlm cannot honour yet is refused here too, at its
position, rather than ignored: the format promises that no setting is silently dropped
(``NOT_YET``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from dlmbuild.document.frontmatter import Frontmatter
from dlmbuild.document.schema import DlmConfig
from dlmbuild.errors import DocumentError, Location
from dlmbuild.util.suggest import did_you_mean
from dlmbuild.util.text import one_line

# Settings the schema knows but this dlm cannot act on yet: (key path, the value that asks for
# the missing capability, the refusal). Each entry goes when its capability lands.
NOT_YET: tuple[tuple[tuple[str, ...], Any, str], ...] = ()


def validate_config(path: Path, fm: Frontmatter, data: dict[str, Any]) -> DlmConfig:
    """The document's config, or the first error (by position) as one located DocumentError."""
    try:
        config = DlmConfig.model_validate(data)
    except ValidationError as exc:
        errors = [_locate(path, fm, data, err) for err in exc.errors()]
        errors.sort(key=lambda e: (e.location.line or 0, e.location.col or 0))
        raise errors[0] from None
    _refuse_not_yet(path, fm, config)
    _check_gate(path, fm, config)
    return config


def _check_gate(path: Path, fm: Frontmatter, config: DlmConfig) -> None:
    """A gate routes between adapters: on a one-adapter document it has nothing to choose, and
    a fallback must be an adapter the document declares. Located at the offending key."""
    gate = config.training.gate
    names = config.training.adapter_names
    keys: tuple[str, ...] = ()
    if gate.enabled and len(names) < 2:
        keys, message = ("training", "gate", "enabled"), (
            f"training.gate needs two or more adapters to route between; this document declares one ('{names[0]}')")
    elif gate.fallback is not None and gate.fallback not in names:
        keys, message = ("training", "gate", "fallback"), (
            f"training.gate.fallback: unknown adapter '{gate.fallback}'{did_you_mean(gate.fallback, names)}; "
            f"declared: {', '.join(names)}")
    if keys:
        key_node, value_node = fm.find(keys)
        raise DocumentError(message, _where(path, fm, value_node if value_node is not None else key_node))


def _refuse_not_yet(path: Path, fm: Frontmatter, config: DlmConfig) -> None:
    for keys, value, message in NOT_YET:
        found: Any = config
        for key in keys:
            found = getattr(found, key)
        if found == value:
            key_node, value_node = fm.find(keys)
            raise DocumentError(message, _where(path, fm, value_node if value_node is not None else key_node))


def _locate(path: Path, fm: Frontmatter, data: dict[str, Any], err: dict) -> DocumentError:
    loc = _key_path(data, err["loc"])
    dotted = _dotted(loc)
    key_node, value_node = fm.find(loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        field = str(loc[-1])
        hint = did_you_mean(field, _fields_at(loc[:-1]))
        parent = f" in {_dotted(loc[:-1])}" if len(loc) > 1 else ""
        node = key_node if key_node is not None and getattr(key_node, "value", None) == field else value_node
        message = f"unknown field '{field}'{parent}{hint}"
    elif kind == "missing":
        node = value_node
        message = f"missing required field '{dotted}'"
    else:
        node = value_node if value_node is not None else key_node
        text = err["msg"]
        if text.startswith("Value error, "):
            text = text[len("Value error, ") :]
        text = text[0].lower() + text[1:]
        if loc == ("dlm_version",) and kind == "less_than_equal":
            text = f"document is schema version {err['input']}; this dlm reads versions up to {err['ctx']['le']} (upgrade dlm)"
            return DocumentError(one_line(text), _where(path, fm, node))
        if kind == "string_pattern_mismatch" and loc == ("dlm_id",):
            text = "dlm_id must be a 26-character Crockford base32 ULID (run 'dlm init' for a fresh one)"
            return DocumentError(text, _where(path, fm, node))
        message = f"{dotted}: {text}" if dotted else text
    return DocumentError(one_line(message), _where(path, fm, node))


def _where(path: Path, fm: Frontmatter, node) -> Location:
    if node is None:
        return Location(path, fm.first_line, 1)
    return fm.location(path, node.start_mark)


def _dotted(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _key_path(data: Any, loc: tuple) -> tuple:
    """The error path with pydantic's union tags removed.

    A part that is a key actually present in the document is never a tag, whatever it looks
    like: a user key such as ``d[lm_id`` must survive, or an unknown-field error has no field.
    """
    out = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            out.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            out.append(part)
            node = node[part]
        elif not _is_union_tag(part):
            out.append(part)
            node = None
    return tuple(out)


def _is_union_tag(part: Any) -> bool:
    """Pydantic inserts union member names (``list[str]``, ``literal['auto']``) into error paths."""
    return isinstance(part, str) and ("[" in part or part in {"int", "float", "str", "bool", "function-after"}) or (
        isinstance(part, str) and part.startswith(("constrained-", "function-"))
    )


def _fields_at(loc: tuple) -> list[str]:
    """The field names the schema accepts at ``loc`` (for 'did you mean')."""
    model: type[BaseModel] | None = DlmConfig
    for part in loc:
        if model is None or isinstance(part, int):
            continue
        info = model.model_fields.get(str(part))
        if info is None:  # a key of a dict of models (training.adapters.<name>): same model
            continue
        model = _model_of(info.annotation)
    return list(model.model_fields) if model is not None else []


def _model_of(annotation: Any) -> type[BaseModel] | None:
    import typing

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None
