"""``dlm cache ls|prune|clear`` on a store with real entries (``:tokenize`` of a tiny document),
and the store lock: prune and clear wait for a running build, or refuse with ``--no-wait``."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from dlmbuild.engine.actioncache import ActionCache
from dlmbuild.engine.filestate import FileStateCache
from dlmbuild.project import Project
from tests.rules.conftest import DOC, age, notes_project

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parents[2]

# Holds the store lock like a running build; on a line from the parent, reports whether the
# cached actions were still there while it held the lock, then lets go.
HOLDER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from dlmbuild.engine.mutex import store_lock

    store = Path(sys.argv[1])
    with store_lock(store):
        print("held", flush=True)
        sys.stdin.readline()
        print("intact" if any((store / "actions").iterdir()) else "emptied", flush=True)
""")


class Holder:
    """Another process holding the store lock until told to let go."""

    def __init__(self, store: Path):
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH", "")]))}
        self.proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(store)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, cwd=REPO, env=env)
        assert self.proc.stdout.readline() == "held\n", self.proc.stderr.read()

    def release(self) -> str:
        """Let go; returns what the holder saw in the store just before."""
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        seen = self.proc.stdout.readline().strip()
        self.proc.wait(timeout=20)
        return seen

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=20)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            stream.close()


@pytest.fixture
def doc(tmp_path: Path, monkeypatch) -> Path:
    return notes_project(tmp_path, monkeypatch, DOC)


@pytest.fixture
def built(doc: Path, run_dlm) -> Path:
    r = run_dlm("build", doc, ":tokenize")
    assert r.code == 0, r.err
    return doc


def entries(doc: Path) -> list[tuple[str, dict]]:
    layout = Project.open(doc).layout
    return ActionCache(layout.actions, FileStateCache(None)).entries()


def store_of(doc: Path) -> Path:
    return Project.open(doc).layout.root


def edit(doc: Path) -> None:
    doc.write_text(doc.read_text().replace("the item is of value", "the item is a fact"))
    age(doc.parent)


def test_ls_lists_each_store_and_entry(built: Path, run_dlm):
    [(key, manifest)] = entries(built)
    assert manifest["target"] == ":tokenize"
    r = run_dlm("cache", "ls")
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[0].startswith(f"store {Project.open(built).layout.dlm_id}: 1 action(s), tokens ")
    assert lines[1].split()[:2] == [":tokenize", key[:16]]
    assert run_dlm("cache", "ls", built).out == r.out


def test_prune_removes_only_what_nothing_refers_to(built: Path, run_dlm):
    [(old, _)] = entries(built)
    edit(built)
    assert run_dlm("build", built, ":tokenize").code == 0
    assert len(entries(built)) == 2
    r = run_dlm("cache", "prune", built)
    assert r.code == 0, r.err
    assert r.out.startswith("pruned 1 action(s), freed ") and r.out.endswith("; kept 1\n")
    assert [k for k, _ in entries(built)] != [old] and len(entries(built)) == 1
    again = run_dlm("build", built, ":tokenize", "--explain")
    assert "cached  :tokenize" in again.out  # the current entry was kept


def test_clear_empties_the_caches_and_the_next_build_rebuilds(built: Path, run_dlm):
    layout = Project.open(built).layout
    assert layout.tokens.exists()
    r = run_dlm("cache", "clear")
    assert r.code == 0, r.err
    assert r.out.startswith(f"cleared store {layout.dlm_id}: freed ")
    assert entries(built) == [] and not layout.actions.exists() and not layout.tokens.exists()
    assert "built   :tokenize" in run_dlm("build", built, ":tokenize").out


@pytest.mark.parametrize("command", ["prune", "clear"])
def test_no_wait_refuses_while_a_build_holds_the_store(built: Path, run_dlm, command: str):
    before = entries(built)
    holder = Holder(store_of(built))
    try:
        r = run_dlm("cache", command, built, "--no-wait")
        assert (r.code, r.out) == (3, "")
        assert r.err.startswith(f"dlm: another build holds the store lock (pid {holder.proc.pid}: ")
        assert len(r.err.splitlines()) == 1
        assert entries(built) == before
        assert holder.release() == "intact"
    finally:
        holder.close()


@pytest.mark.parametrize("command", ["prune", "clear"])
def test_prune_and_clear_wait_for_the_build_to_finish(built: Path, run_dlm, command: str):
    edit(built)
    assert run_dlm("build", built, ":tokenize").code == 0  # one current entry and one stale one
    holder = Holder(store_of(built))
    seen: list[str] = []
    # the holder lets go a moment later, reporting what it saw: nothing was deleted while it held
    timer = threading.Timer(1.0, lambda: seen.append(holder.release()))
    timer.start()
    try:
        r = run_dlm("cache", command, built)
    finally:
        timer.join()
        holder.close()
    assert r.code == 0, r.err
    assert r.err == f"dlm: waiting for another build to finish (pid {holder.proc.pid}: -c {store_of(built)}) ...\n"
    assert seen == ["intact"]
    assert len(entries(built)) == (1 if command == "prune" else 0)
