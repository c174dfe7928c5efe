"""The machine class: what about the machine decides an adapter's bytes, worked out without torch.

Two machines of one class train byte-identical adapters from the same document, lock and seed;
two of different classes train adapters that agree only within a tolerance (``dlm verify``
checks behaviour across classes, ``train/probes.py``). What decides the bytes:
  - the device kind (``cpu``, ``cuda``);
  - the resolved precision: ``precision: auto`` is bf16 autocast where the hardware runs bf16
    natively (a CPU with AVX512-BF16 or AMX, a CUDA device of compute capability 8.0 or more)
    and float32 elsewhere, so one setting yields different arithmetic on different machines;
  - the instruction set the kernels dispatch on: on CPU the widest of AMX, AVX512-BF16,
    AVX-512, AVX2 (oneDNN and MKL pick different blockings, hence different rounding, per
    tier); on CUDA the compute capability;
  - on CUDA, whether deterministic algorithms are on (``CUBLAS_WORKSPACE_CONFIG`` set as torch
    requires), since atomics otherwise reorder sums from run to run.
Package versions are not part of the class: they are pinned in the lock's toolchain already.

Everything here reads ``/proc/cpuinfo``, the environment and, only where torch is a CUDA build,
``nvidia-smi``: computing a target's key must not import torch (a no-op build answers in well
under a second). ``classify`` is a pure function of those readings, so every branch is tested
on its inputs, GPUs included, on a machine without one.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DETERMINISTIC_CUBLAS = (":4096:8", ":16:8")
# x86 tiers, widest first, as /proc/cpuinfo spells the flags each needs.
X86_TIERS = (("amx", ("amx_tile", "amx_bf16")), ("avx512-bf16", ("avx512_bf16",)), ("avx512", ("avx512f",)),
             ("avx2", ("avx2", "fma")))
NATIVE_BF16_CPU = ("amx", "avx512-bf16")


@dataclass(frozen=True)
class CudaDevice:
    """What ``nvidia-smi`` says of the first visible GPU."""

    capability: str  # "9.0"
    name: str = ""


@dataclass(frozen=True)
class MachineClass:
    device: str  # cpu | cuda
    precision: str  # fp32 | bf16 | fp16: what training computes in, after 'auto' is resolved
    isa: str  # cpu: amx | avx512-bf16 | avx512 | avx2 | x86-64 | arm64 | ...; cuda: sm90 ...
    deterministic: bool = True  # cuda: deterministic algorithms on; cpu: always

    @property
    def name(self) -> str:
        """``cpu-bf16-amx``, ``cuda-bf16-sm90-det``: the lock's table name for this class."""
        suffix = "" if self.device == "cpu" else ("-det" if self.deterministic else "-nondet")
        return f"{self.device}-{self.precision}-{self.isa}{suffix}"

    @property
    def autocast(self) -> str | None:
        """The torch autocast dtype training uses (None: float32 throughout)."""
        return {"bf16": "bfloat16", "fp16": "float16"}.get(self.precision)

    def as_dict(self) -> dict[str, str]:
        """The key component (and the lock's record): plain strings, sorted on output."""
        return {"device": self.device, "precision": self.precision, "isa": self.isa,
                "deterministic": "yes" if self.deterministic else "no"}

    @classmethod
    def from_dict(cls, data: dict) -> MachineClass:
        return cls(str(data.get("device", "")), str(data.get("precision", "")), str(data.get("isa", "")),
                   str(data.get("deterministic", "yes")) == "yes")


def cpu_isa(flags: frozenset[str], arch: str) -> str:
    """The widest instruction-set tier the CPU's kernels dispatch on."""
    arch = arch.lower()
    if arch in ("x86_64", "amd64"):
        for tier, needed in X86_TIERS:
            if all(flag in flags for flag in needed):
                return tier
        return "x86-64"
    if arch in ("aarch64", "arm64"):
        return "arm64-sve" if "sve" in flags else "arm64"
    return arch or "unknown"


def classify(precision: str, *, flags: frozenset[str], arch: str, cuda: CudaDevice | None,
             deterministic_cuda: bool = False) -> MachineClass:
    """The class a training with ``precision`` (the document's setting) runs in on this machine.

    CPU: ``auto`` is bf16 on a native-bf16 tier, else fp32; ``fp16`` has no CPU autocast worth
    having, so it computes in fp32 there (``pick_device`` says the same). CUDA: ``auto`` is bf16
    from capability 8.0 (Ampere), else fp16."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}")
    if cuda is not None:
        major = int(cuda.capability.split(".")[0]) if cuda.capability[:1].isdigit() else 0
        resolved = {"auto": "bf16" if major >= 8 else "fp16"}.get(precision, precision)
        isa = "sm" + cuda.capability.replace(".", "") if major else "sm-unknown"
        return MachineClass("cuda", resolved, isa, deterministic_cuda)
    isa = cpu_isa(flags, arch)
    resolved = {"auto": "bf16" if isa in NATIVE_BF16_CPU else "fp32", "fp16": "fp32"}.get(precision, precision)
    return MachineClass("cpu", resolved, isa, True)


def current_class(precision: str = "auto") -> MachineClass:
    """This machine's class for ``precision``."""
    from dlmbuild.util.cpu import cpu_flags

    return classify(precision, flags=cpu_flags(), arch=os.uname().machine, cuda=visible_cuda(),
                    deterministic_cuda=os.environ.get("CUBLAS_WORKSPACE_CONFIG", "") in DETERMINISTIC_CUBLAS)


def visible_cuda() -> CudaDevice | None:
    """The first GPU training would use, or None: only a CUDA build of torch uses one, and
    ``CUDA_VISIBLE_DEVICES`` may hide them all."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return None
    if torch_cuda_version() is None:
        return None
    return _first_gpu(os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip())


@lru_cache(maxsize=1)
def torch_cuda_version() -> str | None:
    """The CUDA version the installed torch was built for, read from ``torch/version.py``
    without importing torch (None: a CPU build, or no torch)."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.origin:
        return None
    return parse_torch_cuda(Path(spec.origin).with_name("version.py"))


def parse_torch_cuda(version_py: Path) -> str | None:
    try:
        text = version_py.read_text(encoding="utf-8")
    except OSError:
        return None
    match = re.search(r"^cuda\s*(?::[^=]*)?=\s*['\"]([^'\"]+)['\"]", text, re.MULTILINE)
    return match.group(1) if match else None


@lru_cache(maxsize=4)
def _first_gpu(index: str) -> CudaDevice | None:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return CudaDevice("unknown") if Path("/dev/nvidia0").exists() else None
    try:
        out = subprocess.run([smi, "--query-gpu=compute_cap,name", "--format=csv,noheader", *(["-i", index] if index else [])],
                             capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_smi(out)


def parse_smi(out: str) -> CudaDevice | None:
    """``9.0, NVIDIA H200`` (the first line) as a CudaDevice."""
    line = out.strip().splitlines()[0] if out.strip() else ""
    capability, _, name = line.partition(",")
    capability = capability.strip()
    return CudaDevice(capability, name.strip()) if re.fullmatch(r"\d+\.\d+", capability) else None



def document_class(project) -> MachineClass:
    """The class a document's builds run in here: its training precision on a text base;
    float32 on a vision or speech base, whose training takes no autocast."""
    from dlmbuild.bases.modality import modality_of

    config = project.doc.config
    text = modality_of(config.base_model, project.doc.path.parent) == "text"
    return current_class(config.training.precision if text else "fp32")
