"""What the CPU offers llama.cpp: the instruction-set flags its kernels dispatch on.

Read by ``util/cpu.py`` from ``/proc/cpuinfo``. ``dlm doctor`` shows these beside what the pinned llama.cpp was compiled with, and
``toolchain install`` refuses a CPU below the pinned baseline.
"""

from __future__ import annotations

from dlmbuild.util.cpu import cpu_flags, is_x86_64

__all__ = ["REPORTED", "cpu_flags", "is_x86_64", "reported_features"]

# The features that decide llama.cpp's CPU kernels, as /proc/cpuinfo spells them, with the
# names doctor prints.
REPORTED = {"avx2": "AVX2", "avx512f": "AVX-512", "avx512_bf16": "AVX-512 BF16", "amx_int8": "AMX"}


def reported_features(flags: frozenset[str] | None = None) -> dict[str, bool]:
    """``{"AVX2": True, "AVX-512": True, "AVX-512 BF16": True, "AMX": False}`` for doctor."""
    flags = cpu_flags() if flags is None else flags
    return {label: flag in flags for flag, label in REPORTED.items()}
