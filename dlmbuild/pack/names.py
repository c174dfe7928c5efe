"""Which names a pack's members may have, and how a name is shown in a one-line message.

A member name becomes a path under the folder a pack is extracted into, so the writer and the
reader (and the manifest check) apply the same rules; they live here so that all three import
one copy of them.
"""

from __future__ import annotations

NAME_MAX_BYTES = 4096  # PATH_MAX on Linux
COMPONENT_MAX_BYTES = 255  # NAME_MAX on every common filesystem


def member_name_problem(name: object) -> str | None:
    """Why ``name`` cannot be a member's name, or None if it can.

    A member name becomes a path under the destination, so it must be relative, stay inside
    (no ``..``), mean one thing on every system (no ``.``, empty components or backslashes) and
    fit the limits of common filesystems."""
    if not isinstance(name, str) or not name:
        return "is empty"
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid UTF-8"
    if "\0" in name:
        return "has a NUL byte"
    if "\\" in name:
        return "has a backslash"
    if name.startswith("/"):
        return "is absolute"
    if len(encoded) > NAME_MAX_BYTES:
        return f"is longer than {NAME_MAX_BYTES} bytes"
    for component in name.split("/"):
        if component == "..":
            return "has a '..' component"
        if component == ".":
            return "has a '.' component"
        if not component:
            return "has an empty component"
        if len(component.encode("utf-8")) > COMPONENT_MAX_BYTES:
            return f"has a component longer than {COMPONENT_MAX_BYTES} bytes"
    return None


def folder_file_clash(names: list[str]) -> str | None:
    """A name that is also a folder of another name (``a`` and ``a/b``): no filesystem holds both."""
    folders: set[str] = set()
    for name in names:
        parts = name.split("/")[:-1]
        folders.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    clashes = sorted(folders.intersection(names))
    return clashes[0] if clashes else None


def quoted_name(name: str) -> str:
    """A member name for a one-line message: quoted, control characters escaped, long names cut."""
    if len(name) > 160:
        name = name[:150] + "…"
    return repr(name)


def collapse_whitespace(text: object) -> str:
    """``text`` with every run of whitespace made one space: a value or library message read
    from a pack, fit for a one-line message. (Not ``util.text.one_line``, which escapes line
    breaks instead; the pack's messages have always collapsed them.)"""
    return " ".join(str(text).split())
