"""The same sharing through a real S3 endpoint (moto's server on 127.0.0.1, s3fs as client),
with the credentials only in the environment: never in the config, the store or the output."""

from __future__ import annotations

import shutil

import pytest

from tests.remote.conftest import S3_ENV, add_remote, second_home
from tests.rules.conftest import trainable_project

pytest.importorskip("torch")


def _everything_under(path):
    return b"".join(p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file() and not p.is_symlink())


def test_two_stores_share_a_build_through_s3(tmp_path, monkeypatch, run_dlm, s3_bucket):
    url, endpoint = s3_bucket
    project = trainable_project(tmp_path, monkeypatch)
    add_remote(run_dlm, "team", url, endpoint, "--default", "--upload")
    built = run_dlm("build", "proj/doc.dlm")
    assert built.code == 0, built.err
    assert "uploaded" in built.err
    home_a = tmp_path / "home"
    second_home(tmp_path, monkeypatch, home_a)
    clone = tmp_path / "clone"
    shutil.copytree(project, clone)
    fetched = run_dlm("build", clone / "doc.dlm", "--explain")
    assert fetched.code == 0, fetched.err
    assert "fetched from remote team" in fetched.out and "built" not in fetched.out, fetched.out
    listed = run_dlm("cache", "ls", "--remote", "team")
    assert listed.code == 0 and ":train-default" in listed.out, listed.out + listed.err
    for secret in (S3_ENV["AWS_SECRET_ACCESS_KEY"], S3_ENV["AWS_ACCESS_KEY_ID"]):
        for home in (home_a, tmp_path / "home-b"):
            assert secret.encode() not in _everything_under(home)
        for run in (built, fetched, listed):
            assert secret not in run.out + run.err


def test_push_and_pull_a_pack_through_s3(tmp_path, monkeypatch, run_dlm, s3_bucket):
    url, endpoint = s3_bucket
    project = trainable_project(tmp_path, monkeypatch)
    add_remote(run_dlm, "team", url, endpoint)
    assert run_dlm("build", "proj/doc.dlm").code == 0
    pushed = run_dlm("push", "proj/doc.dlm", "-r", "team")
    assert pushed.code == 0, pushed.err
    second_home(tmp_path, monkeypatch, tmp_path / "home")
    shutil.copytree(project / "base", tmp_path / "there" / "doc" / "base")  # ./base, beside the document
    monkeypatch.chdir(tmp_path / "there")
    pulled = run_dlm("pull", "doc.dlm", "-r", "team", "--force")
    assert pulled.code == 0, pulled.err
    build = run_dlm("build", tmp_path / "there" / "doc" / "doc.dlm")
    assert build.code == 0 and "built" not in build.out.replace(":gguf", ""), build.out


def test_a_down_s3_remote_degrades_to_a_local_build(tmp_path, monkeypatch, run_dlm):
    from tests.remote.conftest import free_port

    for name, value in S3_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DLM_REMOTE_TIMEOUT", "5")
    trainable_project(tmp_path, monkeypatch)
    add_remote(run_dlm, "team", "s3://nowhere/dlm", f"http://127.0.0.1:{free_port()}")
    built = run_dlm("build", "proj/doc.dlm", "--remote", "team")
    assert built.code == 0, built.err
    warnings = [line for line in built.err.splitlines() if "remote team" in line]
    assert len(warnings) == 1 and "building locally" in warnings[0], built.err
    assert "built" in built.out


def test_a_remote_that_never_answers_costs_its_timeout_not_the_build(tmp_path, monkeypatch, run_dlm):
    """An endpoint that accepts connections and never replies (a hung proxy): the probe gives
    up after DLM_REMOTE_TIMEOUT and the build runs locally."""
    import socket
    import time

    for name, value in S3_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DLM_REMOTE_TIMEOUT", "2")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    try:
        trainable_project(tmp_path, monkeypatch)
        add_remote(run_dlm, "slow", "s3://bucket/dlm", f"http://127.0.0.1:{listener.getsockname()[1]}")
        started = time.monotonic()
        built = run_dlm("build", "proj/doc.dlm", ":tokenize", "--remote", "slow")
        assert built.code == 0, built.err
        assert built.err.splitlines()[0] == "dlm: warning: remote slow does not answer (no answer within 2s); building locally"
        assert time.monotonic() - started < 30
        assert "built" in built.out
    finally:
        listener.close()
