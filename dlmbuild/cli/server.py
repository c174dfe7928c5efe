"""``dlm server start|stop|status``: the resident build server (see dlmbuild/server).

While a server runs for this ``$DLM_HOME``, ``dlm build`` is answered by it: no interpreter
start, no imports, the tokenizer and file-state cache already loaded. It serves builds only from
the same Python and environment it was started in, and exits when dlm's code changes or after
``--idle`` seconds without a build.

``start`` launches ``dlm server serve`` (hidden) in the background: that process is an ordinary
``dlm`` and hands the CLI's own ``run_cli`` to the server, which runs each request through it.
So the server package never imports the CLI.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import typer

from dlmbuild.errors import EnvironmentProblem
from dlmbuild.server import protocol
from dlmbuild.server.client import request
from dlmbuild.server.daemon import DEFAULT_IDLE_S, Server
from dlmbuild.store.layout import dlm_home

server_app = typer.Typer(help="The resident build server: dlm build without start-up cost.", no_args_is_help=True)
START_TIMEOUT_S = 60.0


@server_app.command("start")
def start(idle: float = typer.Option(DEFAULT_IDLE_S, "--idle", min=1, help="Exit after this many seconds without a build.")) -> None:
    """Start a build server for this DLM_HOME, in the background."""
    home = dlm_home()
    pid = _live_pid(home)
    if pid is not None:
        typer.echo(f"dlm server: already running (pid {pid}) for {home}")
        return
    folder = protocol.server_dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "server.log", "ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "dlmbuild", "server", "serve", "--home", str(home), "--idle", str(idle)],
                                   stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=str(home),
                                   start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EnvironmentProblem(f"the build server exited at start (code {process.returncode}); see {folder / 'server.log'}")
        answer = request(home, {"status": True}, timeout=1.0)
        if answer is not None:
            typer.echo(f"dlm server: started (pid {answer['pid']}); dlm build under {home} now runs in it")
            return
        time.sleep(0.05)
    process.kill()
    raise EnvironmentProblem(f"the build server did not answer within {START_TIMEOUT_S:.0f} s; see {folder / 'server.log'}")


@server_app.command("serve", hidden=True)
def serve(home: Path = typer.Option(..., "--home", help="The DLM_HOME to serve."),
          idle: float = typer.Option(DEFAULT_IDLE_S, "--idle", min=1, help="Exit after this many seconds without a build.")) -> None:
    """Run the build server in this process (what ``start`` launches in the background)."""
    serve_forever(home, idle)


def serve_forever(home: str | Path, idle: float = DEFAULT_IDLE_S) -> None:
    """Serve builds for ``home`` until idle, stopped, or dlm's code changes; each request runs
    through ``run_cli``, exactly as the same command line in a fresh process would."""
    import dlmbuild.cli.build  # noqa: F401  (warm: the build command and everything it imports)
    from dlmbuild.cli.app import run_cli

    Server(Path(home), idle, run=run_cli).serve()


@server_app.command("stop")
def stop() -> None:
    """Stop this DLM_HOME's build server (after the build it is running, if any)."""
    home = dlm_home()
    answer = request(home, {"stop": True}, timeout=None)
    if answer is None:
        typer.echo("dlm server: not running")
        return
    for _ in range(200):  # until it has removed its socket and exited
        try:
            os.kill(answer["pid"], 0)
        except OSError:
            break
        time.sleep(0.02)
    typer.echo(f"dlm server: stopped (pid {answer['pid']}, {answer['served']} build(s) served)")


@server_app.command("status")
def status() -> None:
    """Say whether a build server runs for this DLM_HOME."""
    home = dlm_home()
    answer = request(home, {"status": True})
    if answer is None:
        pid = _live_pid(home)
        typer.echo("dlm server: not running" if pid is None else f"dlm server: running (pid {pid}), busy with a build")
        return
    typer.echo(f"dlm server: running (pid {answer['pid']}, {answer['served']} build(s) served, {answer['python']})")


def _live_pid(home) -> int | None:
    """The pid in server.json if that process is alive (it answers one request at a time, so a
    busy server is found this way rather than by asking it)."""
    import json

    try:
        pid = int(json.loads(protocol.info_path(home).read_text())["pid"])
        os.kill(pid, 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return pid
