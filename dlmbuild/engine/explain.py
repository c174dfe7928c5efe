"""Why a target is dirty, as readable strings: which input, config key, dependency, toolchain
version, machine-class field or rule version differs from its last build."""

from __future__ import annotations

from typing import Any

MAX_LISTED = 5


def reasons(previous: dict[str, Any] | None, current: dict[str, Any]) -> list[str]:
    """Why ``current`` key components differ from the ``previous`` build's, one readable string
    per difference (``input changed: file:notes/a.md``); ``never built`` when there was none."""
    if previous is None:
        return ["never built"]
    out: list[str] = []
    if previous.get("rule") != current["rule"]:
        out.append(f"rule changed: {previous.get('rule')} -> {current['rule']}")
    out += _config(previous.get("config", {}), current["config"])
    out += _named("input", previous.get("inputs", {}), current["inputs"])
    old_deps = previous.get("deps", {})
    for dep, digest in current["deps"].items():
        old = old_deps.get(dep)
        if old is None:
            out.append(f"new dependency {dep}")
        elif old != digest:
            out.append(f"output of {dep} changed")
    out += [f"dependency {dep} removed" for dep in old_deps if dep not in current["deps"]]
    old_tools = previous.get("toolchain", {})
    for name in sorted(set(old_tools) | set(current["toolchain"])):
        old, new = old_tools.get(name), current["toolchain"].get(name)
        if old != new:
            out.append(f"toolchain {name}: {old or 'absent'} -> {new or 'absent'}")
    old_machine, new_machine = previous.get("machine", {}), current.get("machine", {})
    for field in sorted(set(old_machine) | set(new_machine)):
        if old_machine.get(field) != new_machine.get(field):  # "precision changed: bf16 -> fp32"
            out.append(f"{field} changed: {old_machine.get(field, 'unrecorded')} -> {new_machine.get(field, 'unrecorded')}")
    return out or ["outputs missing from the cache"]


def _config(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(old) | set(new)):
        dotted = f"{prefix}{key}"
        a, b = old.get(key, "<unset>"), new.get(key, "<unset>")
        if isinstance(a, dict) and isinstance(b, dict):
            out += _config(a, b, dotted + ".")
        elif a != b:
            out.append(f"config {dotted}: {_short(a)} -> {_short(b)}")
    return out


def _named(kind: str, old: dict[str, str], new: dict[str, str]) -> list[str]:
    added = [k for k in new if k not in old]
    removed = [k for k in old if k not in new]
    changed = [k for k in new if k in old and old[k] != new[k]]
    out = []
    for label, names in (("added", added), ("removed", removed), ("changed", changed)):
        if names:
            listed = ", ".join(names[:MAX_LISTED]) + (f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else "")
            out.append(f"{kind} {label}: {listed}")
    return out


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
