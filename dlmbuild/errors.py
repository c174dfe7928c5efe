"""The DlmError family: every failure a user can cause is one line, a location and an exit code.

Commands catch ``DlmError`` at the top and print ``str(err)`` to stderr; nothing below the CLI
prints tracebacks for user mistakes. Exit codes follow a small convention so scripts can tell a
bad document (2) from a build failure (1) or an environmental refusal (3).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

EXIT_BUILD_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_ENVIRONMENT = 3
EXIT_VERIFY_MISMATCH = 4


@dataclass
class Location:
    """A place in a file: 1-based line and column, as editors show them."""

    path: str | Path
    line: int | None = None
    col: int | None = None

    def __str__(self) -> str:
        parts = [str(self.path)]
        if self.line is not None:
            parts.append(str(self.line))
            if self.col is not None:
                parts.append(str(self.col))
        return ":".join(parts)


class DlmError(Exception):
    """A failure caused by input or environment, reported as one line without a traceback."""

    exit_code = EXIT_BUILD_FAILED

    def __init__(self, message: str, location: Location | None = None, *, exit_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.location = location
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        if self.location is None:
            return self.message
        return f"{self.location}: {self.message}"


class DocumentError(DlmError):
    """The .dlm document (or a file it points at) is malformed."""

    exit_code = EXIT_BAD_INPUT


class UsageError(DlmError):
    """The command line asks for something that cannot be done (unknown target, bad flag value)."""

    exit_code = EXIT_BAD_INPUT


class EnvironmentProblem(DlmError):
    """The machine cannot do what was asked: missing base, toolchain, disk space, a held lock."""

    exit_code = EXIT_ENVIRONMENT
