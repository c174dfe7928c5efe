"""Which remote URLs dlm accepts, and the fsspec filesystem behind one.

Any protocol fsspec knows is accepted (``file://`` and plain paths, ``s3://`` through s3fs,
read-only ``http(s)://``, and whatever else fsspec reaches): one library, one credential story.
A URL that carries credentials is refused before it is stored or used, and so is a storage
option named like a secret; fsspec's own mechanisms (``AWS_*`` variables, ``~/.aws``, instance
roles) supply them. ``scrub`` removes secret values from text before it is shown or logged.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlsplit

from dlmbuild.errors import UsageError

READ_ONLY = ("http", "https")
SECRET_OPTION = re.compile(r"(key|secret|token|password|passwd|credential|auth|signature)", re.IGNORECASE)
SECRET_ENV = re.compile(r"(SECRET|TOKEN|PASSWORD|_KEY$|KEY_ID$|CREDENTIAL)")
# A slow remote must not hang a build: botocore's timeouts and retries, unless the user set them.
S3_DEFAULTS = {"connect_timeout": 5, "read_timeout": 60, "retries": {"max_attempts": 2, "mode": "standard"}}


def protocol(url: str) -> str:
    """``file`` for plain paths, else the URL's scheme (lower case)."""
    scheme = urlsplit(url).scheme.lower() if "://" in url else ""
    return scheme or "file"


def check_url(url: str) -> str:
    """The URL, normalised (a plain path becomes absolute), or one line saying why not."""
    if not url or not url.strip():
        raise UsageError("a remote needs a URL (a folder, file://..., s3://bucket/prefix, https://...)")
    parts = urlsplit(url) if "://" in url else None
    if parts is not None and (parts.username or parts.password):
        raise UsageError(f"remote URLs must not carry credentials ({redact(url)}); fsspec reads them from the "
                         f"environment or its config (for s3: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or ~/.aws/credentials)")
    proto = protocol(url)
    import fsspec
    from fsspec.registry import known_implementations

    try:
        fsspec.get_filesystem_class(proto)
    except ValueError:
        raise UsageError(f"unknown URL scheme '{proto}://' in {redact(url)} (fsspec knows: file, s3, gcs, az, "
                         f"http(s), sftp, ...)") from None
    except ImportError:
        hint = (known_implementations.get(proto) or {}).get("err") or f"install the fsspec backend for {proto}"
        raise UsageError(f"{proto}:// needs a package that is not installed: {hint}") from None
    if proto == "file":
        path = url.split("://", 1)[1] if "://" in url else url
        return Path(path).expanduser().resolve().as_uri()
    return url.rstrip("/")


def check_options(options: dict) -> dict:
    """Storage options without secrets (endpoint_url, region_name, ...)."""
    for name in options:
        if SECRET_OPTION.search(name):
            raise UsageError(f"option '{name}' looks like a credential, which dlm does not store; "
                             f"set it where fsspec reads it (environment variables or the backend's config)")
    return options


def filesystem(url: str, options: dict):
    """The fsspec filesystem and root path for a remote URL."""
    from fsspec.core import url_to_fs

    kwargs = dict(options)
    if protocol(url) == "s3":
        config = dict(S3_DEFAULTS)
        config.update(kwargs.pop("config_kwargs", {}) or {})
        kwargs["config_kwargs"] = config
    kwargs.setdefault("skip_instance_cache", True)
    fs, root = url_to_fs(url, **kwargs)
    return fs, root.rstrip("/")


def writable(url: str) -> bool:
    return protocol(url) not in READ_ONLY


def redact(url: str) -> str:
    """``url`` with any user or password replaced by ``***``."""
    if "://" not in url:
        return url
    parts = urlsplit(url)
    if not (parts.username or parts.password):
        return url
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return parts._replace(netloc=f"***@{host}").geturl()


def scrub(text: str) -> str:
    """``text`` with the values of secret-looking environment variables replaced by ``***``."""
    for name, value in os.environ.items():
        if value and len(value) >= 6 and SECRET_ENV.search(name) and value in text:
            text = text.replace(value, "***")
    return text
