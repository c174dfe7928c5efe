"""Loading the lark grammar once per process.

The grammar file ships as package data (``dlmbuild.grammar/dlm.lark``). Lark's own cache keeps
the compiled LALR tables in a temp file keyed by the grammar's hash, so a second process skips
table construction.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import lark


@lru_cache(maxsize=1)
def parser() -> lark.Lark:
    text = resources.files("dlmbuild.grammar").joinpath("dlm.lark").read_text(encoding="utf-8")
    return lark.Lark(
        text,
        parser="lalr",
        start=["body", "fence", "provenance"],
        maybe_placeholders=False,
        cache=True,
    )
