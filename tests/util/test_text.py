"""dlmbuild.util.text: messages that quote user text stay one line."""

from __future__ import annotations

from dlmbuild.util.text import one_line


def test_one_line_escapes_line_breaks():
    assert one_line("a\r\nb\nc") == "a\\r\\nb\\nc"
    assert one_line("plain") == "plain"
