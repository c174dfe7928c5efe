"""What the CPU offers llama.cpp: the instruction-set flags its kernels dispatch on.

Read from ``/proc/cpuinfo`` (Linux); elsewhere the set is empty and callers say "unknown".
``dlm doctor`` shows these beside what the pinned llama.cpp was compiled with, and
``toolchain install`` refuses a CPU below the pinned baseline.
"""

from __future__ import annotations

import platform
from functools import lru_cache
from pathlib import Path

# The features that decide llama.cpp's CPU kernels, as /proc/cpuinfo spells them, with the
# names doctor prints.
REPORTED = {"avx2": "AVX2", "avx512f": "AVX-512", "avx512_bf16": "AVX-512 BF16", "amx_int8": "AMX"}


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


def reported_features(flags: frozenset[str] | None = None) -> dict[str, bool]:
    """``{"AVX2": True, "AVX-512": True, "AVX-512 BF16": True, "AMX": False}`` for doctor."""
    flags = cpu_flags() if flags is None else flags
    return {label: flag in flags for flag, label in REPORTED.items()}
