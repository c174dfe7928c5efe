"""dlmbuild.server: a real server process answering real `dlm build` processes on a tiny base."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dlmbuild.server import daemon, protocol
from dlmbuild.server.client import forward, request
from tests.rules.conftest import age, project_dir  # noqa: F401  (the fixture)

DLM = [sys.executable, "-m", "dlmbuild"]


def dlm(*args, env, cwd):
    return subprocess.run([*DLM, *map(str, args)], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.fixture
def server(project_dir, tmp_path):
    """A started server for a fresh DLM_HOME; stopped (and checked gone) afterwards."""
    env = {**os.environ, "DLM_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1"}
    started = dlm("server", "start", "--idle", "600", env=env, cwd=project_dir)
    assert started.returncode == 0, started.stderr
    assert "started (pid" in started.stdout
    yield env
    stopped = dlm("server", "stop", env=env, cwd=project_dir)
    assert "stopped" in stopped.stdout
    assert not protocol.info_path(tmp_path / "home").exists()


def served(env) -> int:
    return request(Path(env["DLM_HOME"]), {"status": True})["served"]


def test_builds_run_in_the_server_and_match_a_plain_build(project_dir, server, tmp_path):
    first = dlm("build", "doc.dlm", ":tokenize", env=server, cwd=project_dir)
    assert first.returncode == 0, first.stderr
    assert "built   :tokenize" in first.stdout and "5 tokenized now" in first.stderr
    assert served(server) == 1

    (project_dir / "doc.dlm").write_text((project_dir / "doc.dlm").read_text().replace("the item is of value", "the item is a value"))
    age(project_dir)
    second = dlm("build", "doc.dlm", ":tokenize", "--explain", env=server, cwd=project_dir)
    assert second.returncode == 0 and "built   :tokenize" in second.stdout
    assert "input added: section:" in second.stdout and "1 tokenized now" in second.stderr
    assert served(server) == 2
    lock_by_server = (project_dir / "dlm.lock").read_text()

    # The same document built by a fresh process into an empty store locks the same keys and outputs.
    (project_dir / "dlm.lock").unlink()
    plain = dlm("build", "doc.dlm", ":tokenize", env={**server, "DLM_HOME": str(tmp_path / "plain-home")}, cwd=project_dir)
    assert plain.returncode == 0 and "5 tokenized now" in plain.stderr
    assert (project_dir / "dlm.lock").read_text() == lock_by_server
    assert served(server) == 2


def test_bad_input_gets_one_line_and_the_exit_code_through_the_server(project_dir, server):
    missing = dlm("build", "nope.dlm", env=server, cwd=project_dir)
    assert missing.returncode == 2
    assert missing.stderr.strip().count("\n") == 0 and "nope.dlm" in missing.stderr and "Traceback" not in missing.stderr
    unknown = dlm("build", "doc.dlm", ":tokenzie", env=server, cwd=project_dir)
    assert unknown.returncode != 0 and "did you mean ':tokenize'?" in unknown.stderr
    assert served(server) == 2


def test_another_environment_is_declined_and_builds_on_its_own(project_dir, server):
    other = {**server, "SOME_SETTING": "different"}
    result = dlm("build", "doc.dlm", ":tokenize", env=other, cwd=project_dir)
    assert result.returncode == 0 and "built   :tokenize" in result.stdout
    assert served(server) == 0
    log = (Path(server["DLM_HOME"]) / "server" / "server.log").read_text()
    assert "declined build doc.dlm :tokenize: another environment" in log


def test_a_busy_server_leaves_the_build_to_the_client(project_dir, server):
    # Hold the server's single request slot: a connection that says nothing (the server waits
    # up to 5 s for its request), so the build's client gets no answer within its 1 s.
    import socket

    holder = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    holder.connect(protocol.socket_path(Path(server["DLM_HOME"])))
    time.sleep(0.2)
    began = time.monotonic()
    result = dlm("build", "doc.dlm", ":tokenize", env=server, cwd=project_dir)
    holder.close()
    assert result.returncode == 0 and "built   :tokenize" in result.stdout
    assert time.monotonic() - began < 5
    assert served(server) == 0


def test_status_and_stop_without_a_server(tmp_path):
    env = {**os.environ, "DLM_HOME": str(tmp_path / "none")}
    assert "not running" in dlm("server", "status", env=env, cwd=tmp_path).stdout
    assert "not running" in dlm("server", "stop", env=env, cwd=tmp_path).stdout
    assert forward(["build", "doc.dlm"], tmp_path / "none") is None


def test_changed_code_is_declined_and_the_server_exits(tmp_path, monkeypatch):
    monkeypatch.setenv("DLM_HOME", str(tmp_path))
    server = daemon.Server(tmp_path)
    hello = {"argv": ["build", "doc.dlm"], "python": daemon.interpreter(), "env": dict(os.environ)}
    assert server._refusal(hello) is None
    server.code = ("an older checkout",)
    assert server._refusal(hello) == "dlm's code or installed packages changed"
    assert server._refusal({**hello, "argv": ["repl", "doc.dlm"]}) == "not a served command"
    assert server._refusal({**hello, "argv": ["build", "doc.dlm", "--watch"]}) == "not a served command"
    assert server._refusal({**hello, "python": ["/other/python", "/other", "3"]}) == "another Python"


def test_a_cancel_frame_interrupts_the_running_build(tmp_path):
    server = daemon.Server(tmp_path)
    left, right = __import__("socket").socketpair()
    server.running = True
    watcher = threading.Thread(target=server._watch_cancel, args=(right,))
    with pytest.raises(KeyboardInterrupt):
        watcher.start()
        protocol.send(left, {"cancel": True})
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            time.sleep(0.01)
    watcher.join()
    # Once the build is over, the client hanging up interrupts nothing (a KeyboardInterrupt
    # here would fail the test).
    server.running = False
    watcher = threading.Thread(target=server._watch_cancel, args=(right,))
    watcher.start()
    left.close()
    watcher.join(timeout=10)
    time.sleep(0.05)
    assert not watcher.is_alive()
    right.close()


def test_a_server_whose_home_was_deleted_exits(tmp_path):
    """Its socket is gone, so no build can reach it: it must not linger until the idle timeout."""
    home = tmp_path / "home"
    code = ("import sys; from dlmbuild.server import daemon; daemon.OWNERSHIP_CHECK_S = 0.2; "
            "from dlmbuild.cli.server import serve_forever; serve_forever(sys.argv[1], 600)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(home)], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not protocol.info_path(home).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert protocol.info_path(home).exists()
        assert proc.poll() is None
        import shutil

        shutil.rmtree(home)
        assert proc.wait(timeout=30) == 0
        assert "socket removed or replaced" in proc.stderr.read()
    finally:
        proc.kill()


def test_long_homes_put_the_socket_in_the_temp_folder(tmp_path):
    long_home = tmp_path / ("x" * 120)
    path = protocol.socket_path(long_home)
    assert len(path.encode()) < 100 and path.endswith(".sock")
    short = Path("/tmp/h")
    assert protocol.socket_path(short) == "/tmp/h/server/dlm.sock"


def test_frames_round_trip_and_a_closed_peer_reads_none():
    import socket

    left, right = socket.socketpair()
    sender = threading.Thread(target=protocol.send, args=(left, {"fd": 1, "data": "é" * 70_000}))  # > one socket buffer
    sender.start()
    assert protocol.recv(right) == {"fd": 1, "data": "é" * 70_000}
    sender.join()
    left.close()
    assert protocol.recv(right) is None
