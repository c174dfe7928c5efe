"""Capturing what llama.cpp's C code prints, so exports print dlm's lines and not hundreds of
per-tensor notes. The text is kept (returned to the caller) for error messages."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator


@contextlib.contextmanager
def captured_native_stderr() -> Iterator[list[str]]:
    """Redirect file descriptor 2 (where C code writes) to a temp file for the block; the list
    yielded is filled with the captured lines when the block ends."""
    lines: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            lines.extend(sink.read().decode("utf-8", errors="replace").splitlines())
