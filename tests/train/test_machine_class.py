"""The machine class, decided from the machine's readings: every branch, GPUs included, is
tested on its inputs; the class of this machine is checked against what torch says."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlmbuild.train.machine_class import (
    CudaDevice,
    MachineClass,
    classify,
    cpu_isa,
    current_class,
    parse_smi,
    parse_torch_cuda,
    visible_cuda,
)

AMX = frozenset({"avx2", "fma", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8"})
AVX512_BF16 = frozenset({"avx2", "fma", "avx512f", "avx512_bf16"})
AVX512 = frozenset({"avx2", "fma", "avx512f"})
AVX2 = frozenset({"avx2", "fma", "sse4_2"})


@pytest.mark.parametrize(("flags", "arch", "isa"), [
    (AMX, "x86_64", "amx"),
    (AVX512_BF16, "x86_64", "avx512-bf16"),
    (AVX512, "x86_64", "avx512"),
    (AVX2, "x86_64", "avx2"),
    (frozenset({"sse4_2"}), "x86_64", "x86-64"),
    (frozenset({"amx_tile"}), "x86_64", "x86-64"),  # AMX tiles without the bf16 unit are not the AMX tier
    (frozenset({"fp", "asimd", "sve"}), "aarch64", "arm64-sve"),
    (frozenset(), "arm64", "arm64"),  # macOS: no /proc/cpuinfo
    (frozenset(), "riscv64", "riscv64"),
])
def test_the_instruction_set_tier(flags, arch, isa):
    assert cpu_isa(flags, arch) == isa


@pytest.mark.parametrize(("precision", "flags", "name", "autocast"), [
    ("auto", AMX, "cpu-bf16-amx", "bfloat16"),
    ("auto", AVX512_BF16, "cpu-bf16-avx512-bf16", "bfloat16"),
    ("auto", AVX512, "cpu-fp32-avx512", None),
    ("auto", AVX2, "cpu-fp32-avx2", None),
    ("fp32", AMX, "cpu-fp32-amx", None),
    ("bf16", AVX2, "cpu-bf16-avx2", "bfloat16"),  # asked for: emulated, slower, but what the key says
    ("fp16", AMX, "cpu-fp32-amx", None),  # no fp16 autocast on CPU: it trains, and is keyed, as fp32
])
def test_cpu_classes(precision, flags, name, autocast):
    cls = classify(precision, flags=flags, arch="x86_64", cuda=None)
    assert (cls.name, cls.autocast, cls.device) == (name, autocast, "cpu")
    assert cls.deterministic is True


@pytest.mark.parametrize(("precision", "capability", "deterministic", "name"), [
    ("auto", "9.0", True, "cuda-bf16-sm90-det"),
    ("auto", "8.6", False, "cuda-bf16-sm86-nondet"),
    ("auto", "7.5", True, "cuda-fp16-sm75-det"),  # Turing: no bf16, so auto means fp16
    ("fp32", "9.0", False, "cuda-fp32-sm90-nondet"),
    ("fp16", "9.0", True, "cuda-fp16-sm90-det"),
    ("auto", "unknown", True, "cuda-fp16-sm-unknown-det"),
])
def test_cuda_classes(precision, capability, deterministic, name):
    cls = classify(precision, flags=AMX, arch="x86_64", cuda=CudaDevice(capability), deterministic_cuda=deterministic)
    assert cls.name == name and cls.device == "cuda" and cls.deterministic is deterministic


def test_a_class_round_trips_through_its_record():
    cls = MachineClass("cuda", "bf16", "sm90", False)
    assert cls.as_dict() == {"device": "cuda", "precision": "bf16", "isa": "sm90", "deterministic": "no"}
    assert MachineClass.from_dict(cls.as_dict()) == cls


def test_an_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="unknown precision 'fp8'"):
        classify("fp8", flags=AMX, arch="x86_64", cuda=None)


@pytest.mark.parametrize(("out", "device"), [
    ("9.0, NVIDIA H200\n", CudaDevice("9.0", "NVIDIA H200")),
    ("8.6, NVIDIA GeForce RTX 3090\n7.5, Tesla T4\n", CudaDevice("8.6", "NVIDIA GeForce RTX 3090")),
    ("", None),
    ("[N/A], Some GPU\n", None),
])
def test_nvidia_smi_output(out, device):
    assert parse_smi(out) == device


@pytest.mark.parametrize(("text", "version"), [
    ("__version__ = '2.13.0+cpu'\ncuda: Optional[str] = None\n", None),
    ("__version__ = '2.13.0+cu128'\ncuda: Optional[str] = '12.8'\nhip = None\n", "12.8"),
    ("cuda = '11.8'\n", "11.8"),
])
def test_the_cuda_version_of_a_torch_build_is_read_without_importing_it(tmp_path: Path, text, version):
    (tmp_path / "version.py").write_text(text)
    assert parse_torch_cuda(tmp_path / "version.py") == version
    assert parse_torch_cuda(tmp_path / "missing.py") is None


@pytest.mark.parametrize("hidden", ["", "-1"])
def test_hidden_gpus_mean_cpu(monkeypatch, hidden):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", hidden)
    assert visible_cuda() is None
    assert current_class("auto").device == "cpu"


def test_this_machines_class_agrees_with_torch():
    """The torch-free reading says bf16 exactly where torch's own CPU probes do (the CPU wheel
    here has no CUDA, so the device is the CPU)."""
    import torch

    native = any(getattr(torch.cpu, probe, lambda: False)() for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))
    cls = current_class("auto")
    assert cls.device == ("cuda" if torch.cuda.is_available() else "cpu")
    if cls.device == "cpu":
        assert (cls.precision == "bf16") == native
        assert current_class("fp32").precision == "fp32"
