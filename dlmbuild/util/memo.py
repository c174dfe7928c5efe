"""The one registry of in-process memo caches, and the one way to drop them.

A resident process (``dlm server``, ``dlm build --watch``) keeps what it worked out for the last
build so that the next one, after a small edit, redoes only what the edit touched: the body's
raw sections, the sections read from them, folder listings, source walks kept true by inotify,
the tokenize index, the loaded file-state cache and build state, the loaded base model. Each
cache lives beside the code that fills it and keeps its own validity check there (a content or
stat comparison that decides whether an entry still answers), because only that code knows what
"still the same" means for it.

What they share is here: each registers under a dotted name, so

  - ``invalidate(name)`` drops one of them,
  - ``clear_all()`` drops every one (tests between cases; the server after a build that failed
    on a bug, so a broken incremental path cannot poison the next build),

and nobody reaches into another module's globals to reset it. Dropping a memo is always safe:
the next build recomputes what it held.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_CLEAR: dict[str, Callable[[], None]] = {}


def register(name: str, clear: Callable[[], None]) -> None:
    """Register the memo ``name``; ``clear()`` must drop everything it holds. Registering a name
    again (a module reloaded) replaces the previous entry."""
    _CLEAR[name] = clear


def memo_dict(name: str) -> dict[Any, Any]:
    """A new dict registered as the memo ``name``. It is cleared in place, so a module (or a
    class attribute) may hold it for the life of the process."""
    memo: dict[Any, Any] = {}
    register(name, memo.clear)
    return memo


def invalidate(name: str) -> None:
    """Drop the memo ``name``; an unknown name is a programming error (with a hint)."""
    clear = _CLEAR.get(name)
    if clear is None:
        from dlmbuild.util.suggest import did_you_mean

        raise KeyError(f"no memo named '{name}'{did_you_mean(name, _CLEAR)}")
    clear()


def clear_all() -> None:
    """Drop every registered memo."""
    for clear in list(_CLEAR.values()):
        clear()


def names() -> list[str]:
    """The registered memos' names, sorted (for ``--explain``-style listings and tests)."""
    return sorted(_CLEAR)
