"""``dlm remote``, ``dlm push``, ``dlm pull`` and ``dlm build --remote`` on a tiny trained base,
through a ``file://`` folder and a real S3 server: two stores on one machine share one build."""

from __future__ import annotations

import shutil

import pytest

from tests.remote.conftest import add_remote, second_home
from tests.rules.conftest import trainable_project

pytest.importorskip("torch")


@pytest.fixture
def project(tmp_path, monkeypatch):
    return trainable_project(tmp_path, monkeypatch)


def _copy_checkout(project, tmp_path):
    """A teammate's clone: the document, its sources, its base and dlm.lock, nothing else."""
    clone = tmp_path / "clone"
    shutil.copytree(project, clone)
    return clone / "doc.dlm"


def test_build_upload_then_a_second_store_trains_nothing(project, tmp_path, monkeypatch, run_dlm):
    folder = tmp_path / "team-remote"
    add_remote(run_dlm, "team", str(folder))
    built = run_dlm("build", "proj/doc.dlm", "--remote", "team", "--remote-upload")
    assert built.code == 0, built.err
    assert "remote team: fetched 0 target(s), uploaded" in built.err
    home_a = tmp_path / "home"
    second_home(tmp_path, monkeypatch, home_a)
    clone = _copy_checkout(project, tmp_path)
    fetched = run_dlm("build", clone, "--remote", "team", "--explain")
    assert fetched.code == 0, fetched.err
    lines = [line for line in fetched.out.splitlines() if line.strip()]
    assert lines and all(line.split()[0] == "cached" for line in lines), fetched.out
    assert any(":train-default" in line and "fetched from remote team" in line for line in lines), fetched.out
    assert "built" not in fetched.out
    again = run_dlm("build", clone, "--remote", "team")
    assert again.code == 0 and "fetched" not in again.out + again.err


def test_push_then_pull_targets_into_a_fresh_store(project, tmp_path, monkeypatch, run_dlm):
    add_remote(run_dlm, "team", (tmp_path / "r").as_uri())
    assert run_dlm("build", "proj/doc.dlm").code == 0
    pushed = run_dlm("push", "proj/doc.dlm", "--remote", "team")
    assert pushed.code == 0, pushed.err
    assert "target(s) uploaded" in pushed.out and "pack" in pushed.out
    second_home(tmp_path, monkeypatch, tmp_path / "home")
    clone = _copy_checkout(project, tmp_path)
    pulled = run_dlm("pull", clone, "--remote", "team")
    assert pulled.code == 0, pulled.err
    assert "target(s) fetched" in pulled.out
    build = run_dlm("build", clone, "--no-remote")
    assert build.code == 0 and "built" not in build.out, build.out


def test_pull_a_pack_by_document_name(project, tmp_path, monkeypatch, run_dlm):
    add_remote(run_dlm, "team", str(tmp_path / "r"), None, "--default")
    assert run_dlm("build", "proj/doc.dlm").code == 0
    assert run_dlm("push", "proj/doc.dlm").code == 0
    second_home(tmp_path, monkeypatch, tmp_path / "home")
    # a local-path base (./base) must exist beside the document here too
    shutil.copytree(project / "base", tmp_path / "elsewhere" / "doc" / "base")
    monkeypatch.chdir(tmp_path / "elsewhere")
    pulled = run_dlm("pull", "doc", "--force")
    assert pulled.code == 0, pulled.err
    assert (tmp_path / "elsewhere" / "doc" / "doc.dlm").is_file()
