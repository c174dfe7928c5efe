"""A real S3 endpoint (moto's server, a separate process on 127.0.0.1) for the remote tests,
and a tiny trained project to share through it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.helpers import wait_for_http

S3_ENV = {"AWS_ACCESS_KEY_ID": "dlm-test-key-id", "AWS_SECRET_ACCESS_KEY": "dlm-test-secret-value",
          "AWS_DEFAULT_REGION": "us-east-1"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory):
    """``http://127.0.0.1:PORT``: moto's S3 server, started once per session and stopped after."""
    pytest.importorskip("moto")
    pytest.importorskip("s3fs")
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with open(log, "wb") as out:
        server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                  stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ, **S3_ENV))
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{endpoint}/moto-api/", server, log, "moto's S3 server", timeout=60)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def s3_bucket(s3_endpoint, monkeypatch):
    """A fresh bucket on the test S3 server, with the credentials in the environment (where
    fsspec reads them, never the config): (``s3://bucket/dlm``, ``endpoint_url``)."""
    import boto3

    for name, value in S3_ENV.items():
        monkeypatch.setenv(name, value)
    bucket = f"dlm-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    return f"s3://{bucket}/dlm", s3_endpoint


def add_remote(run_dlm, name: str, url: str, endpoint: str | None = None, *extra: str) -> None:
    args = ["remote", "add", name, url, *extra]
    if endpoint:
        args += ["-o", f"endpoint_url={endpoint}"]
    result = run_dlm(*args)
    assert result.code == 0, result.err


def second_home(tmp_path: Path, monkeypatch, first: Path) -> Path:
    """Switch DLM_HOME to a new, empty home that shares only the config (the user's remotes)."""
    home = tmp_path / "home-b"
    home.mkdir()
    if (first / "config.toml").exists():
        (home / "config.toml").write_text((first / "config.toml").read_text())
    monkeypatch.setenv("DLM_HOME", str(home))
    return home
