"""The pinned llama.cpp toolchain: the pin is read, checked at use, and tampering is noticed."""

from __future__ import annotations

import json
import shutil

import pytest

from dlmbuild.errors import EnvironmentProblem
from dlmbuild.export import toolchain


def test_pin_names_one_exact_artifact():
    pin = toolchain.pin()
    assert pin.package == "llama-cpp-python" and pin.sdist == f"llama_cpp_python-{pin.version}.tar.gz"
    assert len(pin.sha256) == 64 and int(pin.sha256, 16) >= 0


def test_installed_toolchain_matches_the_pin():
    assert toolchain.problems() == []
    ready = toolchain.require()
    assert ready.convert_hf.is_file() and ready.convert_lora.is_file()
    assert "ok" in toolchain.describe()


@pytest.fixture
def copied(monkeypatch, tmp_path):
    """The installed converters copied under a DLM_TOOLCHAIN root the test may damage."""
    source = toolchain.converters_home()
    root = tmp_path / "tc"
    shutil.copytree(source, root / source.name)
    monkeypatch.setenv("DLM_TOOLCHAIN", str(root))
    return root / source.name


def test_an_edited_converter_is_refused_with_the_fix(copied):
    (copied / "convert_hf_to_gguf.py").write_text("print('patched')\n")
    with pytest.raises(EnvironmentProblem, match="convert_hf_to_gguf.py was changed or removed; run `bash scripts/setup.sh`"):
        toolchain.require()


def test_converters_from_another_artifact_are_refused(copied):
    manifest = json.loads((copied / toolchain.MANIFEST).read_text())
    manifest["sha256"] = "0" * 64
    (copied / toolchain.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(EnvironmentProblem, match="come from another artifact than the pinned"):
        toolchain.require()


def test_missing_converters_are_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("DLM_TOOLCHAIN", str(tmp_path / "nowhere"))
    with pytest.raises(EnvironmentProblem, match="llama.cpp converters are missing"):
        toolchain.require()


def test_a_different_installed_version_is_refused(monkeypatch):
    monkeypatch.setattr(toolchain, "installed_version", lambda package: "0.0.1")
    assert toolchain.problems()[0] == f"llama-cpp-python 0.0.1 is installed but dlm is pinned to {toolchain.pin().version}"


def test_the_build_flags_are_part_of_the_pin_and_of_export_keys():
    pin = toolchain.pin()
    flags = pin.cmake_args.split()
    assert "-DGGML_NATIVE=OFF" in flags and "-DGGML_AVX2=ON" in flags
    assert not [f for f in flags if f.startswith("-DGGML_AMX") and f.endswith("=ON")]
    assert toolchain.pin_key()["llama.cpp:cmake"] == pin.cmake_args
    assert pin.cpu_baseline == ("avx", "avx2", "fma", "f16c", "bmi2")


def test_a_toolchain_built_with_other_flags_is_refused(copied):
    manifest = json.loads((copied / toolchain.MANIFEST).read_text())
    manifest["cmake_args"] = "-DLLAVA_BUILD=OFF"
    (copied / toolchain.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(EnvironmentProblem, match=r"was built with other flags than the pinned ones \(-DLLAVA_BUILD=OFF\)"):
        toolchain.require()


def test_install_rebuilds_a_toolchain_built_with_other_flags(copied, monkeypatch, tmp_path):
    manifest = json.loads((copied / toolchain.MANIFEST).read_text())
    manifest["cmake_args"] = "-DLLAVA_BUILD=OFF"
    (copied / toolchain.MANIFEST).write_text(json.dumps(manifest))
    calls = []
    monkeypatch.setattr(toolchain, "_download", lambda p, folder: tmp_path / p.sdist)
    monkeypatch.setattr(toolchain, "_pip", lambda args, env=None: calls.append((args, env["CMAKE_ARGS"])))

    def unpack(p, sdist):  # what a real unpack records: the flags it was built with
        manifest["cmake_args"] = p.cmake_args
        (copied / toolchain.MANIFEST).write_text(json.dumps(manifest))

    monkeypatch.setattr(toolchain, "_unpack_converters", unpack)
    monkeypatch.setenv("CMAKE_ARGS", "-DGGML_NATIVE=ON")
    said = []
    toolchain.install(log=said.append)
    [(args, cmake)] = calls
    assert "--force-reinstall" in args and "--no-cache-dir" in args and cmake == toolchain.pin().cmake_args
    assert any("CMAKE_ARGS from the environment is not used" in line for line in said)
    assert toolchain.problems() == []


def test_install_refuses_a_cpu_below_the_baseline(monkeypatch, tmp_path):
    from dlmbuild.export import cpu

    monkeypatch.setenv("DLM_TOOLCHAIN", str(tmp_path / "nowhere"))
    monkeypatch.setattr(cpu, "is_x86_64", lambda: True)
    monkeypatch.setattr(cpu, "cpu_flags", lambda: frozenset({"sse4_2", "avx", "fma"}))
    monkeypatch.setattr(toolchain, "_download", lambda *a: pytest.fail("downloaded on a CPU that cannot run the build"))
    with pytest.raises(EnvironmentProblem, match=r"^this CPU lacks avx2, f16c, bmi2, which the pinned llama.cpp build needs"):
        toolchain.install(log=lambda line: None)
