"""What ``--teacher`` names, checked before any model loads or any request is sent.

``base`` (the document's base with the section in its prompt), ``self`` (the document's current
adapter), ``hf:<path or cached id>``, ``gguf:<path>``, ``openai:<model>``, ``anthropic:<model>``
and ``vllm-server:<url>``. The spec is pure: resolving a path or a cached id and checking a key
happens here, loading happens in ``dlmbuild.synth.teachers``.
"""

from __future__ import annotations

from dataclasses import dataclass

from dlmbuild.errors import UsageError
from dlmbuild.util.suggest import did_you_mean

BARE = ("base", "self")
SCHEMES = ("hf", "gguf", "openai", "anthropic", "vllm-server")


@dataclass(frozen=True)
class TeacherSpec:
    """``scheme`` is one of BARE or SCHEMES; ``target`` is what follows the colon (or '')."""

    scheme: str
    target: str = ""

    @property
    def label(self) -> str:
        """How provenance names the teacher. Never holds a secret: specs carry none (keys come
        from the environment), and a URL's user-info is dropped."""
        if not self.target:
            return self.scheme
        if self.scheme == "vllm-server":
            return f"{self.scheme}:{strip_userinfo(self.target)}"
        if self.scheme in ("hf", "gguf"):
            from pathlib import PurePath

            return f"{self.scheme}:{PurePath(self.target).name or self.target}"
        return f"{self.scheme}:{self.target}"

    @property
    def local(self) -> bool:
        """Runs on this machine with a seedable sampler (so ``--seed`` repeats its pairs)."""
        return self.scheme in ("base", "self", "hf", "gguf")


def strip_userinfo(url: str) -> str:
    """``https://user:pw@host/v1?token=x`` -> ``https://host/v1``: credentials (user-info, or a
    token in the query) never reach a log. Never raises, whatever the port says."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = parts.netloc.rpartition(":")[2] if parts.netloc.rpartition("@")[2].count(":") else ""
    if port:
        host = f"{host}:{port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def parse_teacher(text: str) -> TeacherSpec:
    """The spec of ``--teacher TEXT``; UsageError (one line) for an unknown scheme or an empty
    target. Paths and keys are checked by ``check_teacher`` (they depend on the machine)."""
    value = text.strip()
    if value in BARE:
        return TeacherSpec(value)
    scheme, colon, target = value.partition(":")
    if not colon:
        known = [*BARE, *(f"{s}:" for s in SCHEMES)]
        raise UsageError(f"unknown teacher '{value}'{did_you_mean(value, known)}; use one of: {', '.join(known)}")
    if scheme not in SCHEMES:
        if scheme in BARE:
            raise UsageError(f"teacher '{scheme}' takes no ':{target}'; write --teacher {scheme}")
        raise UsageError(f"unknown teacher scheme '{scheme}:'{did_you_mean(scheme, SCHEMES)}; "
                         f"use one of: {', '.join([*BARE, *(s + ':' for s in SCHEMES)])}")
    if not target.strip():
        raise UsageError(f"teacher '{scheme}:' needs a {'URL' if scheme == 'vllm-server' else 'model'} after the colon")
    if scheme == "vllm-server" and not target.startswith(("http://", "https://")):
        raise UsageError(f"vllm-server teacher: '{target}' is not an http:// or https:// URL")
    return TeacherSpec(scheme, target.strip())
