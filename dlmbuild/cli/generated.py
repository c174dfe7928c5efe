"""What the generating commands (``dlm eval``, ``dlm synth``, ``dlm preference``) share on the
command line: a progress counter on a terminal, writing a staged run into the document, and
reverting generated sections."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path


class Counter:
    """``LABEL 3/40`` rewritten in place on stderr, only when stderr is a terminal."""

    def __init__(self, label: str, total: int):
        self.label, self.total, self.done = label, total, 0
        self.live = sys.stderr.isatty()

    def step(self, *_ignored) -> None:
        self.done += 1
        if self.live:
            sys.stderr.write(f"\r{self.label} {self.done}/{self.total}")
            sys.stderr.flush()

    def close(self) -> None:
        if self.live:
            sys.stderr.write("\r" + " " * (len(self.label) + 2 + 2 * len(str(self.total))) + "\r")
            sys.stderr.flush()


def apply_generated(document, count: int, new_text: Callable[[], str], summary: str, quiet: bool = False) -> None:
    """Write ``new_text()`` as the document (parsed first, atomic) and say ``summary``; with
    nothing generated (``count`` 0), say so and leave the file alone."""
    from dlmbuild.document.generated import write_text

    if not count:
        if not quiet:
            print(f"nothing to apply; {document.path} unchanged")
        return
    write_text(document, new_text())
    if not quiet:
        print(f"{summary} into {document.path}")


def revert_generated(doc: Path, run: str | None, revert_text: Callable, noun: str) -> None:
    """Remove the generated sections ``revert_text(document, run)`` finds, losslessly."""
    from dlmbuild.document.generated import write_text
    from dlmbuild.document.parse import parse_source
    from dlmbuild.document.text import read_document_text

    document = parse_source(read_document_text(doc))
    text, count = revert_text(document, run)
    if count == 0:
        print(f"no {noun} sections{' of run ' + run if run else ''}; {doc} unchanged")
        return
    write_text(document, text)
    print(f"removed {count} {noun} section(s); wrote {doc}")
