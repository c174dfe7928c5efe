"""A running ``dlm serve`` on the session's ``lanes`` document (tests/conftest.py): what the
serve, prompt-routing and bundle tests share."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import free_port

KEY = "sk-test-serve-key"


class Served:
    """A ``dlm serve`` child and what it printed."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path):
        self.log = log
        self.handle = open(log, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "dlmbuild", "serve", *args], stdout=self.handle,
                                     stderr=subprocess.STDOUT, env=dict(os.environ, **env))
        self.url = self.wait_ready()

    def wait_ready(self, timeout: float = 300.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log.read_text(errors="replace")
            match = re.search(r"dlm serve: (http://\S+/v1)", text)
            if match:
                return match.group(1)
            if self.proc.poll() is not None:
                raise AssertionError(f"dlm serve exited {self.proc.returncode}:\n{text}")
            time.sleep(0.2)
        raise AssertionError(f"dlm serve did not start:\n{self.log.read_text(errors='replace')}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        self.handle.close()
        return self.proc.returncode


@pytest.fixture(scope="session")
def served(lanes, tmp_path_factory):
    """``dlm serve`` on the lanes document, on a free loopback port, with an API key."""
    log = tmp_path_factory.mktemp("serve-log") / "serve.log"
    server = Served([str(lanes["doc"]), "--port", str(free_port()), "--api-key", KEY, "--threads", "2"], lanes["env"], log)
    yield server
    server.stop()
