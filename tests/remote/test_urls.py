"""Which URLs a remote may have, and that secrets never show."""

from __future__ import annotations

import pytest

from dlmbuild.errors import UsageError
from dlmbuild.remote.urls import check_options, check_url, protocol, redact, scrub, writable


def test_plain_paths_become_absolute_file_urls(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert check_url("shared/dlm") == (tmp_path / "shared" / "dlm").as_uri()
    assert check_url("file:///srv/dlm/") == "file:///srv/dlm"
    assert check_url("s3://bucket/prefix/") == "s3://bucket/prefix"


@pytest.mark.parametrize(("url", "kind"), [("/x", "file"), ("s3://b", "s3"), ("HTTPS://h/x", "https"), ("memory://x", "memory")])
def test_protocols(url, kind):
    assert protocol(url) == kind


def test_http_is_read_only():
    assert not writable("https://h/x") and writable("s3://b") and writable("/x")


def test_credentials_in_urls_and_options_are_refused():
    with pytest.raises(UsageError, match=r"\(https://\*\*\*@host:8443/x\)"):
        check_url("https://user:pa55word@host:8443/x")
    with pytest.raises(UsageError, match="looks like a credential"):
        check_options({"aws_session_token": "x"})
    assert check_options({"endpoint_url": "http://127.0.0.1:9000", "region_name": "eu-west-1"})


def test_redact_and_scrub(monkeypatch):
    assert redact("s3://AKIA:secret@bucket/x") == "s3://***@bucket/x"
    assert redact("/plain/path") == "/plain/path"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI")
    monkeypatch.setenv("SOME_API_TOKEN", "tok-123456")
    assert scrub("signature for wJalrXUtnFEMI and tok-123456 failed") == "signature for *** and *** failed"
