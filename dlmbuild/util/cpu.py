"""The CPU's instruction-set flags, read from ``/proc/cpuinfo`` (Linux; elsewhere the set is
empty and callers say "unknown"). Both llama.cpp's kernels (``export/cpu.py``) and torch's
(``train/machine_class.py``) dispatch on them, so they live below both."""

from __future__ import annotations

import platform
from functools import lru_cache
from pathlib import Path


def is_x86_64() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64")


@lru_cache(maxsize=1)
def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The first processor's flags, or an empty set where /proc/cpuinfo does not exist."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()
