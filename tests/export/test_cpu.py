"""CPU features read from /proc/cpuinfo, as doctor and the toolchain's baseline check see them."""

from __future__ import annotations

from dlmbuild.export.cpu import cpu_flags, reported_features


def test_flags_are_read_from_the_first_processor(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f amx_int8\n\nprocessor\t: 1\nflags\t\t: fpu\n")
    flags = cpu_flags.__wrapped__(info)
    assert flags == frozenset({"fpu", "avx2", "avx512f", "amx_int8"})
    assert reported_features(flags) == {"AVX2": True, "AVX-512": True, "AVX-512 BF16": False, "AMX": True}


def test_no_cpuinfo_means_no_flags(tmp_path):
    assert cpu_flags.__wrapped__(tmp_path / "missing") == frozenset()
    assert not any(reported_features(frozenset()).values())
