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
