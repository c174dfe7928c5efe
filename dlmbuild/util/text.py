"""Text helpers every layer uses for messages (engine failures, document errors, CLI lines)."""

from __future__ import annotations


def one_line(text: str) -> str:
    """Escape line breaks in a message that quotes user text (a YAML key written as ``"a\\nb"``,
    a library's multi-line exception), so every error stays the one line the CLI promises."""
    return text.replace("\r", "\\r").replace("\n", "\\n")
