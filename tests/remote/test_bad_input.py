"""Every refusal of ``dlm remote``, ``push``, ``pull`` and ``build --remote``: one line, exit 2
(3 where the remote itself fails), no traceback, nothing written."""

from __future__ import annotations

import pytest

from tests.remote.conftest import add_remote
from tests.rules.conftest import notes_project, trainable_project

DOC = """---
dlm_id: 01JD5ZQ8V7W9X2Y3Z4A5B6C7D8
base_model: ./base
---
the paragraph is a note of value
"""


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("DLM_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "home"


@pytest.mark.parametrize(("args", "message"), [
    (["remote", "add", "x", "foo://b/p"], "dlm: unknown URL scheme 'foo://' in foo://b/p (fsspec knows: file, s3, gcs, az, http(s), sftp, ...)"),
    (["remote", "add", "x", "gs://b/p"], "dlm: gs:// needs a package that is not installed: Please install gcsfs to access Google Storage"),
    (["remote", "add", "x", "s3://AKIAXX:hunter2secret@b/p"],
     "dlm: remote URLs must not carry credentials (s3://***@b/p); fsspec reads them from the environment or its config "
     "(for s3: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or ~/.aws/credentials)"),
    (["remote", "add", "x", "s3://b/p", "-o", "secret=hunter2secret"],
     "dlm: option 'secret' looks like a credential, which dlm does not store; set it where fsspec reads it "
     "(environment variables or the backend's config)"),
    (["remote", "add", "x", "s3://b/p", "-o", "novalue"], "dlm: --option wants KEY=VALUE, got 'novalue'"),
    (["remote", "add", "a/b", "s3://b/p"], "dlm: remote names are letters, digits, '-' and '_': 'a/b'"),
    (["remote", "remove", "nobody"], "dlm: unknown remote 'nobody' (configured: none; add one with `dlm remote add NAME URL`)"),
])
def test_remote_config_refusals(home, run_dlm, args, message):
    result = run_dlm(*args)
    assert (result.code, result.err.strip(), result.out) == (2, message, "")
    assert not (home / "config.toml").exists()
    assert "hunter2" not in result.err


def test_unknown_remote_gets_did_you_mean(home, tmp_path, run_dlm):
    add_remote(run_dlm, "team", str(tmp_path / "r"))
    for args in (["push", "doc.dlm", "--remote", "teem"], ["cache", "ls", "--remote", "teem"], ["pull", "x", "-r", "teem"]):
        (tmp_path / "doc.dlm").write_text(DOC)
        result = run_dlm(*args)
        assert (result.code, result.err.strip()) == (2, "dlm: unknown remote 'teem' (did you mean 'team'?) (configured: team)"), args


def test_build_with_an_unknown_remote_is_refused_before_building(tmp_path, monkeypatch, run_dlm):
    notes_project(tmp_path, monkeypatch, DOC)
    monkeypatch.chdir(tmp_path)
    add_remote(run_dlm, "team", str(tmp_path / "r"))
    result = run_dlm("build", "proj/doc.dlm", ":tokenize", "--remote", "tema")
    assert (result.code, result.out) == (2, "")
    assert result.err.strip() == "dlm: unknown remote 'tema' (did you mean 'team'?) (configured: team)"
    assert not (tmp_path / "proj" / "dlm.lock").exists()


def test_push_before_any_build(home, tmp_path, run_dlm):
    add_remote(run_dlm, "team", str(tmp_path / "r"), None, "--default")
    (tmp_path / "doc.dlm").write_text(DOC)
    result = run_dlm("push", "doc.dlm")
    assert (result.code, result.err.strip()) == (2, "dlm: nothing is built yet: run `dlm build doc.dlm` before pushing")
    assert not (tmp_path / "r").exists()


def test_no_remote_given_and_none_configured(home, tmp_path, run_dlm):
    (tmp_path / "doc.dlm").write_text(DOC)
    result = run_dlm("push", "doc.dlm")
    assert (result.code, result.err.strip()) == (2, "dlm: no remote given: pass --remote NAME or set cache.remote; "
                                                    "add one with `dlm remote add NAME URL`")


def test_read_only_remote_refuses_push_and_upload(home, tmp_path, monkeypatch, run_dlm):
    add_remote(run_dlm, "web", "https://models.example.org/dlm")
    (tmp_path / "doc.dlm").write_text(DOC)
    result = run_dlm("push", "doc.dlm", "-r", "web")
    assert (result.code, result.err.strip()) == (2, "dlm: remote web (https://models.example.org/dlm) is read-only: "
                                                    "push to a folder, s3:// or another writable URL")
    built = run_dlm("build", "doc.dlm", "--remote", "web", "--remote-upload")
    assert (built.code, built.err.strip()) == (2, "dlm: remote web (https://models.example.org/dlm) is read-only: "
                                                  "it cannot take --remote-upload (or cache.upload)")


def test_no_remote_conflicts_with_remote(home, tmp_path, run_dlm):
    (tmp_path / "doc.dlm").write_text(DOC)
    result = run_dlm("build", "doc.dlm", "--no-remote", "--remote", "x")
    assert (result.code, result.err.strip()) == (2, "dlm: --no-remote cannot be combined with --remote or --remote-upload")


def test_malformed_config_is_one_located_line(home, tmp_path, run_dlm):
    home.mkdir()
    (home / "config.toml").write_text("[remotes.team]\nurl = 3\n")
    result = run_dlm("remote", "list")
    assert (result.code, result.err.strip()) == (2, f"{home / 'config.toml'}: remote 'team' needs a url")


def test_pull_a_pack_whose_base_does_not_resolve_here(tmp_path, monkeypatch, run_dlm):
    project = trainable_project(tmp_path, monkeypatch)
    add_remote(run_dlm, "team", str(tmp_path / "r"), None, "--default")
    assert run_dlm("build", "proj/doc.dlm").code == 0
    assert run_dlm("push", "proj/doc.dlm").code == 0
    monkeypatch.setenv("DLM_HOME", str(tmp_path / "home-b"))
    (tmp_path / "home-b").mkdir()
    (tmp_path / "home-b" / "config.toml").write_text((tmp_path / "home" / "config.toml").read_text())
    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path / "empty")
    result = run_dlm("pull", "doc")
    assert result.code == 2 and result.err.count("\n") == 1, result.err
    assert "base_model ./base not found" in result.err and str(tmp_path / "empty" / "doc" / "base") in result.err
    assert result.err.strip().endswith("or unpack a pack made with `dlm pack --include-base`")
    assert list((tmp_path / "empty").iterdir()) == []
    assert project.exists()


def test_pull_into_a_non_empty_folder_needs_force(tmp_path, monkeypatch, run_dlm):
    trainable_project(tmp_path, monkeypatch)
    add_remote(run_dlm, "team", str(tmp_path / "r"), None, "--default")
    assert run_dlm("build", "proj/doc.dlm").code == 0
    assert run_dlm("push", "proj/doc.dlm").code == 0
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "mine.txt").write_text("keep")
    result = run_dlm("pull", "doc", "full")
    assert (result.code, result.err.strip()) == (2, "dlm: full is not empty; pass --force to unpack into it")
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["mine.txt"]


def test_pull_of_a_name_the_remote_lacks(home, tmp_path, run_dlm):
    add_remote(run_dlm, "team", str(tmp_path / "r"), None, "--default")
    result = run_dlm("pull", "ghost")
    assert (result.code, result.err.strip()) == (2, "dlm: the remote has no pack for ghost.dlm (push one with `dlm push ghost.dlm`)")
