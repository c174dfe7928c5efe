"""store_lock: one build per store; a waiting build names the holder; a dead holder's lock is
released by the kernel (flock), so it never needs cleaning."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from dlmbuild.engine.mutex import store_lock
from dlmbuild.errors import EXIT_ENVIRONMENT, EnvironmentProblem

pytestmark = pytest.mark.timeout(60)

REPO = Path(__file__).resolve().parents[2]

HOLDER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from dlmbuild.engine.mutex import store_lock

    with store_lock(Path(sys.argv[1])):
        print("held", flush=True)
        sys.stdin.readline()  # hold until the parent writes a line (or dies)
    print("released", flush=True)
""")


class Holder:
    """Another process holding the store lock until told to let go."""

    def __init__(self, store: Path):
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH", "")]))}
        self.proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(store)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, env=env)
        line = self.proc.stdout.readline()
        assert line == "held\n", self.proc.stderr.read()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def release(self) -> None:
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline() == "released\n"
        self.close()

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.close()
        assert self.proc.returncode == -signal.SIGKILL

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        self.proc.wait(timeout=20)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream and not stream.closed:
                stream.close()


@pytest.fixture
def holders():
    started: list[Holder] = []
    yield started
    for holder in started:
        if holder.proc.poll() is None:
            holder.kill()


def test_lock_records_and_clears_its_owner(tmp_path: Path):
    store = tmp_path / "store" / "01ID"
    with store_lock(store):
        owner = (store / "build.owner").read_text()
        assert owner.startswith(f"pid {os.getpid()}: ")
        assert (store / "build.lock").exists()
    assert not (store / "build.owner").exists()
    with store_lock(store, wait=False):  # free again
        pass


def test_lock_is_released_when_the_body_raises(tmp_path: Path):
    with pytest.raises(RuntimeError):
        with store_lock(tmp_path):
            raise RuntimeError("build crashed")
    with store_lock(tmp_path, wait=False):
        pass


def test_second_holder_without_waiting_names_the_first(tmp_path: Path, holders):
    holder = Holder(tmp_path)
    holders.append(holder)
    notes: list[str] = []
    with pytest.raises(EnvironmentProblem) as info:
        with store_lock(tmp_path, wait=False, notify=notes.append):
            pytest.fail("entered a held lock")  # pragma: no cover
    message = str(info.value)
    assert f"(pid {holder.pid}: " in message
    assert message.startswith("another build holds the store lock")
    assert "drop --no-wait" in message
    assert info.value.exit_code == EXIT_ENVIRONMENT
    assert notes == []
    holder.release()
    with store_lock(tmp_path, wait=False):
        pass


def test_second_holder_waits_and_says_for_whom(tmp_path: Path, holders):
    holder = Holder(tmp_path)
    holders.append(holder)
    notes: list[str] = []
    acquired = threading.Event()
    leave = threading.Event()
    errors: list[BaseException] = []

    def second() -> None:
        try:
            with store_lock(tmp_path, wait=True, notify=notes.append):
                acquired.set()
                assert leave.wait(20)
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)

    thread = threading.Thread(target=second)
    thread.start()
    deadline = time.monotonic() + 20
    while not notes and time.monotonic() < deadline:
        time.sleep(0.01)
    assert notes == [f"waiting for another build to finish (pid {holder.pid}: -c {tmp_path}) ..."]
    time.sleep(0.2)
    assert not acquired.is_set()  # still waiting while the first build runs
    holder.release()
    assert acquired.wait(20)
    assert (tmp_path / "build.owner").read_text().startswith(f"pid {os.getpid()}: ")
    leave.set()
    thread.join(20)
    assert errors == []
    assert not (tmp_path / "build.owner").exists()


def test_lock_of_a_killed_process_is_recovered_at_once(tmp_path: Path, holders):
    holder = Holder(tmp_path)
    holders.append(holder)
    holder.kill()
    # the dead build could not clean up after itself ...
    assert (tmp_path / "build.owner").read_text().startswith(f"pid {holder.pid}: ")
    # ... but flock died with it: no waiting, no stale-lock error
    started = time.monotonic()
    with store_lock(tmp_path, wait=False):
        assert (tmp_path / "build.owner").read_text().startswith(f"pid {os.getpid()}: ")
    assert time.monotonic() - started < 5


def test_two_holders_in_one_process(tmp_path: Path):
    inside = threading.Event()
    leave = threading.Event()

    def first() -> None:
        with store_lock(tmp_path):
            inside.set()
            leave.wait(20)

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert inside.wait(20)
        with pytest.raises(EnvironmentProblem, match=rf"pid {os.getpid()}: "):
            with store_lock(tmp_path, wait=False):
                pass  # pragma: no cover
    finally:
        leave.set()
        thread.join(20)


def test_unknown_holder_when_the_owner_file_is_missing(tmp_path: Path, holders):
    holder = Holder(tmp_path)
    holders.append(holder)
    (tmp_path / "build.owner").unlink()
    with pytest.raises(EnvironmentProblem, match=r"\(unknown process\)"):
        with store_lock(tmp_path, wait=False):
            pass  # pragma: no cover


def test_uncreatable_store_is_an_environment_problem(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(EnvironmentProblem, match=r"cannot create store .*file/store"):
        with store_lock(blocker / "store"):
            pass  # pragma: no cover
