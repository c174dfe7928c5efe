"""Installing bundles: whole or not at all, with a manifest of sha256 sums."""

from __future__ import annotations

import hashlib
import json

import pytest

from dlmbuild.errors import EXIT_ENVIRONMENT, EnvironmentProblem
from dlmbuild.store import exports


def bundle(folder, text):
    folder.mkdir(parents=True)
    (folder / "model.gguf").write_bytes(text.encode())
    (folder / "launch.sh").write_text("#!/bin/sh\n")
    (folder / "launch.sh").chmod(0o755)
    return folder


def test_publish_installs_copies_and_records_hashes(tmp_path):
    out = bundle(tmp_path / "out", "weights")
    dest = exports.publish_export(tmp_path / "exports", "llama-server", "k1", out)
    assert dest == tmp_path / "exports" / "llama-server"
    assert (dest / "model.gguf").read_text() == "weights" and (dest / "launch.sh").stat().st_mode & 0o111
    assert (dest / "model.gguf").stat().st_ino != (out / "model.gguf").stat().st_ino  # a copy, not a link into the cache
    manifest = json.loads((tmp_path / "exports" / "manifest.json").read_text())
    assert manifest["llama-server"]["key"] == "k1"
    assert manifest["llama-server"]["files"]["model.gguf"] == hashlib.sha256(b"weights").hexdigest()
    assert exports.installed_key(dest) == "k1"


def test_a_failed_install_leaves_the_previous_export(tmp_path, monkeypatch):
    exports.publish_export(tmp_path / "exports", "hf", "k1", bundle(tmp_path / "one", "old"))

    def broken_copy(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(exports, "_copy_tree", broken_copy)
    dest = tmp_path / "exports" / "hf"
    with pytest.raises(EnvironmentProblem) as err:
        exports.publish_export(tmp_path / "exports", "hf", "k2", bundle(tmp_path / "two", "new"))
    assert str(err.value) == f"{dest}: cannot write: disk full" and err.value.exit_code == EXIT_ENVIRONMENT
    assert (dest / "model.gguf").read_text() == "old" and exports.installed_key(dest) == "k1"
    assert [p.name for p in (tmp_path / "exports").iterdir() if p.name.startswith(".")] == []  # no partial folder


def test_same_key_is_not_reinstalled_and_out_goes_elsewhere(tmp_path):
    out = bundle(tmp_path / "out", "w")
    dest = exports.publish_export(tmp_path / "exports", "ollama", "k", out)
    marker = dest / "user-note.txt"
    marker.write_text("kept")
    exports.publish_export(tmp_path / "exports", "ollama", "k", out)
    assert marker.exists()
    custom = exports.publish_export(tmp_path / "exports", "ollama", "k", out, tmp_path / "mine")
    assert (custom / "model.gguf").is_file()
