"""installed_version: the one reader of package versions."""

from __future__ import annotations

from importlib import metadata

from dlmbuild.util import versions
from dlmbuild.util.versions import installed_version


def test_an_installed_package_reports_its_metadata_version():
    import pytest as module

    assert installed_version("pytest") == metadata.version("pytest") == module.__version__


def test_an_absent_package_is_none():
    assert installed_version("dlm-no-such-package-xyz") is None


def test_it_reads_afresh_each_time(monkeypatch):
    """An install within the process (the llama.cpp toolchain) must be seen by the next call."""
    answers = iter(["1.0", "2.0"])
    monkeypatch.setattr(versions.metadata, "version", lambda name: next(answers))
    assert [installed_version("x"), installed_version("x")] == ["1.0", "2.0"]


def test_util_imports_no_other_dlmbuild_package():
    import ast
    from pathlib import Path

    tree = ast.parse(Path(versions.__file__).read_text(encoding="utf-8"))
    imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in imported if m.startswith("dlmbuild")]
