"""engine.watch: which file changes restart a run, and the cancel-and-restart loop itself.

(``dlm build --watch`` on a real document is tested in tests/rules/test_build_commands.py.)"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from dlmbuild.engine.watch import relevant, rerun_on_change, watch_roots

PROJECT = Path("/proj")
DOC = PROJECT / "notes.dlm"
SRC = PROJECT / "src"
WATCHED = [DOC, SRC, PROJECT / "media" / "logo.png"]


@pytest.mark.parametrize("path", [
    "/proj/notes.dlm",                 # the document itself
    "/proj/src",                       # a watched folder itself (created, deleted)
    "/proj/src/a.py",                  # a file in a watched folder
    "/proj/src/deep/er/b.md",          # nested
    "/proj/src/.dlmignore",            # hidden files are sources too
    "/proj/media/logo.png",            # a single watched file
])
def test_relevant_changes(path: str):
    assert relevant(path, WATCHED) is True


@pytest.mark.parametrize("path", [
    "/proj/dlm.lock",                  # our own lock file write
    "/proj/src/dlm.lock",              # ... wherever it lies
    "/proj/.notes.dlm.k3j4h5.tmp",     # our atomic write's temp sibling
    "/proj/src/.a.py.abc123.tmp",      # ... inside a watched folder
    "/proj/src/.git/index",            # git's bookkeeping
    "/proj/src/.git/objects/ab/cdef",
    "/proj/src/.#a.py",                # an editor's lock file
    "/proj/other.dlm",                 # a sibling document
    "/proj/notes.dlm.bak",             # a name extending the document's
    "/proj/src2/a.py",                 # a folder whose name extends a watched one
    "/proj/media/logo.png.orig",
    "/elsewhere/src/a.py",
    "/proj",                           # a parent of watched paths
])
def test_irrelevant_changes(path: str):
    assert relevant(path, WATCHED) is False


def test_nothing_watched_means_nothing_relevant():
    assert relevant("/proj/notes.dlm", []) is False


def test_watch_roots_are_folders(tmp_path: Path):
    (tmp_path / "src").mkdir()
    doc = tmp_path / "doc.dlm"
    doc.write_text("x")
    assert watch_roots([doc, tmp_path / "src", tmp_path / "src" / "gone.md"]) == [tmp_path, tmp_path / "src"]


def test_a_change_during_a_run_cancels_it_and_the_next_run_sees_the_edit(tmp_path: Path):
    watched = tmp_path / "input.txt"
    watched.write_text("one")
    runs: list[list[str]] = []
    first_running, second_done = threading.Event(), threading.Event()

    def job(cancel: threading.Event) -> None:
        content = watched.read_text()
        if not runs:
            runs.append([content, "running"])
            first_running.set()
            runs[0][1] = "cancelled" if cancel.wait(30) else "never cancelled"
            return
        runs.append([content, "done"])
        second_done.set()

    stop = threading.Event()
    started: list[int] = []
    thread = threading.Thread(target=lambda: started.append(rerun_on_change(job, lambda: [watched], stop=stop, debounce_ms=50)))
    thread.start()
    try:
        assert first_running.wait(30)
        watched.write_text("two")
        assert second_done.wait(30)
        (tmp_path / "dlm.lock").write_text("our own write")  # not relevant: no third run
        (tmp_path / "other.txt").write_text("not watched")
        time.sleep(0.5)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert runs == [["one", "cancelled"], ["two", "done"]]
    assert started == [2]


def test_max_runs_ends_the_loop_at_the_next_change(tmp_path: Path):
    watched = tmp_path / "input.txt"
    watched.write_text("one")
    ran = threading.Event()
    thread_result: list[int] = []
    thread = threading.Thread(target=lambda: thread_result.append(
        rerun_on_change(lambda cancel: ran.set(), lambda: [watched], max_runs=1, debounce_ms=50)))
    thread.start()
    assert ran.wait(30)
    deadline = time.monotonic() + 30
    while thread.is_alive() and time.monotonic() < deadline:
        watched.write_text(str(time.monotonic()))
        thread.join(timeout=0.3)
    assert thread_result == [1]
