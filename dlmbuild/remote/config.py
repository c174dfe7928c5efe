"""The user's remotes and cache settings, in ``$DLM_HOME/config.toml`` (never in a document).

```toml
[remotes.team]
url = "s3://models/dlm"
options = { endpoint_url = "http://127.0.0.1:9000" }   # fsspec storage options, no secrets

[cache]
remote = "team"     # what `dlm build` consults when --remote is not given
upload = false      # also upload what this machine builds (like --remote-upload)
```

Credentials never enter this file: a URL with a user or password, or an option whose name
looks like a secret, is refused, and fsspec's own credential handling (``AWS_*`` environment
variables, ``~/.aws/credentials``, instance roles) supplies them at use. The file is rewritten
atomically, so a crash leaves the old one.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from dlmbuild.errors import DlmError, EXIT_BAD_INPUT, Location, UsageError
from dlmbuild.store.atomic import atomic_write_text
from dlmbuild.store.home import dlm_home
from dlmbuild.util.suggest import did_you_mean

FILE_NAME = "config.toml"


@dataclass(frozen=True)
class Remote:
    name: str
    url: str
    options: dict = field(default_factory=dict)


@dataclass
class UserConfig:
    remotes: dict[str, Remote] = field(default_factory=dict)
    cache_remote: str | None = None
    cache_upload: bool = False

    def remote(self, name: str) -> Remote:
        """The remote called ``name``; a wrong name gets one line with 'did you mean'."""
        if name in self.remotes:
            return self.remotes[name]
        known = ", ".join(sorted(self.remotes)) or "none; add one with `dlm remote add NAME URL`"
        raise UsageError(f"unknown remote '{name}'{did_you_mean(name, self.remotes)} (configured: {known})")


def config_path(home: Path | None = None) -> Path:
    return (home or dlm_home()) / FILE_NAME


def load(home: Path | None = None) -> UserConfig:
    """The config, or an empty one when the file does not exist; a malformed file is one line."""
    path = config_path(home)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return UserConfig()
    except (OSError, UnicodeDecodeError) as exc:
        raise DlmError(f"cannot read {path}: {exc}", exit_code=EXIT_BAD_INPUT) from None
    except tomllib.TOMLDecodeError as exc:
        raise DlmError(f"{path}: not valid TOML ({exc})", exit_code=EXIT_BAD_INPUT) from None
    config = UserConfig()
    for name, row in (data.get("remotes") or {}).items():
        if not isinstance(row, dict) or not isinstance(row.get("url"), str):
            raise DlmError(f"remote '{name}' needs a url", Location(path), exit_code=EXIT_BAD_INPUT)
        options = row.get("options") or {}
        if not isinstance(options, dict):
            raise DlmError(f"remote '{name}': options must be a table", Location(path), exit_code=EXIT_BAD_INPUT)
        config.remotes[name] = Remote(name, row["url"], dict(options))
    cache = data.get("cache") or {}
    remote = cache.get("remote")
    if remote is not None and remote not in config.remotes:
        raise DlmError(f"cache.remote names unknown remote '{remote}'{did_you_mean(str(remote), config.remotes)}",
                       Location(path), exit_code=EXIT_BAD_INPUT)
    config.cache_remote = remote
    config.cache_upload = bool(cache.get("upload", False))
    return config


def _value(value) -> str:
    """A TOML value for the scalars this file holds (JSON strings are valid TOML basic strings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value), ensure_ascii=True)


def render(config: UserConfig) -> str:
    lines = ["# dlm's user configuration: remotes and cache settings (see `dlm remote --help`).", ""]
    for name in sorted(config.remotes):
        remote = config.remotes[name]
        lines.append(f"[remotes.{json.dumps(name)}]")
        lines.append(f"url = {_value(remote.url)}")
        if remote.options:
            inner = ", ".join(f"{json.dumps(k)} = {_value(v)}" for k, v in sorted(remote.options.items()))
            lines.append(f"options = {{ {inner} }}")
        lines.append("")
    if config.cache_remote is not None or config.cache_upload:
        lines.append("[cache]")
        if config.cache_remote is not None:
            lines.append(f"remote = {_value(config.cache_remote)}")
        lines.append(f"upload = {_value(config.cache_upload)}")
        lines.append("")
    return "\n".join(lines)


def save(config: UserConfig, home: Path | None = None) -> Path:
    path = config_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, render(config))
    return path
