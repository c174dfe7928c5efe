"""Where and in what precision training runs, decided from the hardware (torch imported lazily).

``precision: auto`` means bf16 autocast where the hardware computes bf16 natively: CUDA devices
that support it, CPUs with AVX512-BF16 or AMX (2.2x float32 measured on such a CPU, same loss
curve). Master weights stay float32, so adapters are saved in float32 either way.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class DevicePlan:
    device: str  # cpu | cuda
    autocast: str | None  # bfloat16 | float16 | None
    threads: int
    determinism: str  # what reproducibility the user can expect
    machine_class: str = ""  # cpu-bf16-amx: the class the target's key recorded
    deterministic: bool = True  # CUDA: deterministic algorithms on

    def as_dict(self) -> dict:
        return {"device": self.device, "autocast": self.autocast, "threads": self.threads, "determinism": self.determinism,
                "machine_class": self.machine_class}


def pick_device(precision: str = "auto") -> DevicePlan:
    """The device and autocast training uses: the machine class's (``train/machine_class.py``),
    which is what the target's key recorded, so a build never trains in another precision than
    its key says. The class is worked out without torch; torch is asked only whether CUDA
    answers, and a disagreement (a driver torch cannot use) is refused rather than mis-keyed."""
    import torch

    from dlmbuild.errors import DlmError
    from dlmbuild.train.machine_class import current_class

    cls = current_class(precision)
    threads = int(os.environ.get("DLM_THREADS", "0")) or torch.get_num_threads()
    if (cls.device == "cuda") != torch.cuda.is_available():
        raise DlmError(f"machine class says {cls.device} but torch.cuda.is_available() is {torch.cuda.is_available()}; "
                       "set CUDA_VISIBLE_DEVICES to choose (empty: CPU)")
    if cls.device == "cuda":
        determinism = ("deterministic algorithms on (CUBLAS_WORKSPACE_CONFIG): same bytes on one GPU class"
                       if cls.deterministic else "same bytes not guaranteed on CUDA (atomics); close within tolerance")
        return DevicePlan("cuda", cls.autocast, threads, determinism, cls.name, cls.deterministic)
    return DevicePlan("cpu", cls.autocast, threads, "bitwise: same document, lock and seed give byte-identical adapters",
                      cls.name, True)


def deterministic_algorithms(plan: DevicePlan):
    """On CUDA with ``CUBLAS_WORKSPACE_CONFIG`` set, torch's deterministic algorithms for the
    duration (the class records it); a no-op on CPU, whose kernels are deterministic already."""
    if plan.device != "cuda" or not plan.deterministic:
        return contextlib.nullcontext()
    return _deterministic()


@contextlib.contextmanager
def _deterministic():
    import torch

    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)


def autocast_context(plan: DevicePlan):
    import torch

    if plan.autocast is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=plan.device, dtype=getattr(torch, plan.autocast))
