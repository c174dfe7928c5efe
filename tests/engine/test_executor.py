"""Scheduling: parallel jobs, the heavy lock, failures, keep-going, cancellation and a hard
crash mid-action. Concurrency is proven with barriers and enter/exit records, not timings."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dlmbuild.engine.actioncache import ActionCache
from dlmbuild.engine.executor import Engine, TargetResult, TargetsUnavailable
from dlmbuild.engine.filestate import FileStateCache
from dlmbuild.engine.graph import Graph
from dlmbuild.engine.hashing import hash_text
from dlmbuild.engine.state import BuildState
from dlmbuild.engine.target import ActionContext, Target
from dlmbuild.errors import DlmError

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parents[2]


def writes(name: str, text: str, calls: Counter | None = None, then: Callable[[ActionContext], None] | None = None):
    def action(ctx: ActionContext) -> None:
        if calls is not None:
            calls[ctx.target.name] += 1
        if then is not None:
            then(ctx)
        (ctx.out_dir / name).write_text(text)
    return action


def engine_for(tmp: Path, targets: list[Target], log: list[str] | None = None) -> Engine:
    fs = FileStateCache(tmp / "fs.pkl")
    sink = log.append if log is not None else (lambda m: None)
    return Engine(Graph(targets), ActionCache(tmp / "actions", fs), BuildState(tmp / "st.pkl"), log=sink)


def statuses(results: list[TargetResult]) -> dict[str, str]:
    return {r.name: r.status for r in results}


def temp_folders(tmp: Path) -> list[str]:
    root = tmp / "actions"
    return sorted(p.name for p in root.iterdir() if p.name.startswith(".")) if root.exists() else []


# --- basic runs -----------------------------------------------------------------------------


def test_dependency_outputs_are_passed_to_dependents(tmp_path: Path):
    def b(ctx: ActionContext) -> None:
        assert set(ctx.dep_outputs) == {":a"}
        (ctx.out_dir / "b.txt").write_text((ctx.dep_outputs[":a"] / "a.txt").read_text() + "+b")

    logs: list[str] = []
    engine = engine_for(tmp_path, [Target(":a", "ra", 1, writes("a.txt", "a")), Target(":b", "rb", 1, b, deps=(":a",))], logs)
    seen: list[str] = []
    engine.on_result = lambda r: seen.append(f"{r.name}:{r.status}")
    results = engine.run([":b"], explain=True)
    assert [r.name for r in results] == [":a", ":b"]
    assert seen == [":a:built", ":b:built"]
    rb = results[1]
    assert (rb.out_dir / "b.txt").read_text() == "a+b"
    assert rb.files == {"b.txt": hash_text("a+b")}
    assert rb.as_json()["outputs"] == {"b.txt": str(rb.out_dir / "b.txt")}
    assert logs == [":a: never built", ":b: never built"]
    assert temp_folders(tmp_path) == []


def test_requested_subset_builds_only_its_closure(tmp_path: Path):
    calls: Counter[str] = Counter()
    engine = engine_for(tmp_path, [Target(":a", "ra", 1, writes("a", "a", calls)),
                                   Target(":b", "rb", 1, writes("b", "b", calls), deps=(":a",)),
                                   Target(":c", "rc", 1, writes("c", "c", calls))])
    assert statuses(engine.run([":a"])) == {":a": "built"}
    assert calls == Counter({":a": 1})


def test_an_unavailable_target_is_refused_before_any_work(tmp_path: Path):
    calls: Counter = Counter()
    targets = [Target(":first", "x", 1, writes("first", "1", calls)),
               Target(":planned", "train", 0, None, deps=(":first",), unavailable=":planned is not implemented yet"),
               Target(":after", "x", 1, writes("x", "x", calls), deps=(":planned",)),
               Target(":bug", "x", 1, None)]
    with pytest.raises(TargetsUnavailable) as refused:
        engine_for(tmp_path, targets).run([":after", ":bug"], keep_going=True)
    assert refused.value.lines == [":bug has no action (a rule bug)", ":planned is not implemented yet (needed by :after)"]
    assert refused.value.exit_code == 2
    assert calls == Counter()  # :first, buildable and first in order, was not built either
    assert engine_for(tmp_path, targets).run([":first"])[0].status == "built"


def test_a_dry_run_reports_unavailable_targets_and_their_dependents(tmp_path: Path):
    targets = [Target(":planned", "train", 0, None, unavailable=":planned is not implemented yet"),
               Target(":after", "x", 1, writes("x", "x"), deps=(":planned",))]
    dry = engine_for(tmp_path, targets).run([":after"], dry_run=True)
    assert [(r.name, r.status, r.reasons) for r in dry] == [
        (":planned", "unavailable", [":planned is not implemented yet"]),
        (":after", "unavailable", ["depends on unavailable :planned"]),
    ]


# --- parallelism ----------------------------------------------------------------------------


def test_independent_targets_run_concurrently_with_two_jobs(tmp_path: Path):
    barrier = threading.Barrier(2, timeout=20)
    met: list[str] = []

    def meet(ctx: ActionContext) -> None:
        barrier.wait()  # only returns once both actions are inside at the same time
        met.append(ctx.target.name)

    engine = engine_for(tmp_path, [Target(":x", "rx", 1, writes("x", "x", then=meet)),
                                   Target(":y", "ry", 1, writes("y", "y", then=meet))])
    assert statuses(engine.run([":x", ":y"], jobs=2)) == {":x": "built", ":y": "built"}
    assert sorted(met) == [":x", ":y"]


class Overlap:
    """Records how many actions are inside at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active = 0
        self.peak = 0
        self.log: list[tuple[str, str]] = []

    def __call__(self, ctx: ActionContext) -> None:
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
            self.log.append(("enter", ctx.target.name))
        time.sleep(0.05)
        with self.lock:
            self.active -= 1
            self.log.append(("exit", ctx.target.name))


def test_one_job_runs_one_action_at_a_time(tmp_path: Path):
    overlap = Overlap()
    targets = [Target(f":t{i}", f"r{i}", 1, writes("o", str(i), then=overlap)) for i in range(3)]
    assert set(statuses(engine_for(tmp_path, targets).run([t.name for t in targets], jobs=1)).values()) == {"built"}
    assert overlap.peak == 1


def test_heavy_targets_never_overlap(tmp_path: Path):
    overlap = Overlap()
    targets = [Target(f":train{i}", f"train{i}", 1, writes("w", str(i), then=overlap), heavy=True) for i in range(3)]
    results = engine_for(tmp_path, targets).run([t.name for t in targets], jobs=3)
    assert set(statuses(results).values()) == {"built"}
    assert overlap.peak == 1
    # strictly alternating enter/exit: no heavy action started while another was inside
    assert [kind for kind, _ in overlap.log] == ["enter", "exit"] * 3
    for i in range(0, 6, 2):
        assert overlap.log[i][1] == overlap.log[i + 1][1]


def test_heavy_and_cheap_targets_may_overlap(tmp_path: Path):
    barrier = threading.Barrier(2, timeout=20)
    targets = [Target(":train", "train", 1, writes("w", "w", then=lambda ctx: barrier.wait()), heavy=True),
               Target(":tokenize", "tok", 1, writes("t", "t", then=lambda ctx: barrier.wait()))]
    assert statuses(engine_for(tmp_path, targets).run([":train", ":tokenize"], jobs=2)) == {":train": "built", ":tokenize": "built"}


# --- failures -------------------------------------------------------------------------------


def boom(ctx: ActionContext) -> None:
    (ctx.out_dir / "half.txt").write_text("half")
    raise DlmError("boom: section 3 is empty")


def failing_graph(calls: Counter) -> list[Target]:
    # :a fails; :after depends on it; :x is independent and :y waits for :x
    return [Target(":a", "ra", 1, boom),
            Target(":after", "rafter", 1, writes("after", "after", calls), deps=(":a",)),
            Target(":x", "rx", 1, writes("x", "x", calls)),
            Target(":y", "ry", 1, writes("y", "y", calls), deps=(":x",))]


def test_failure_skips_dependents_and_stops_the_build(tmp_path: Path):
    calls: Counter[str] = Counter()
    results = {r.name: r for r in engine_for(tmp_path, failing_graph(calls)).run([":after", ":y"], jobs=1)}
    assert (results[":a"].status, results[":a"].error) == ("failed", "boom: section 3 is empty")
    assert results[":after"].status == "skipped"
    assert results[":y"].status == "skipped"
    assert results[":y"].reasons == ["build stopped after a failure"]
    assert calls[":after"] == calls[":y"] == 0
    committed = [manifest["target"] for _, manifest in ActionCache(tmp_path / "actions", FileStateCache(None)).entries()]
    assert ":a" not in committed and ":after" not in committed and ":y" not in committed
    assert temp_folders(tmp_path) == []  # the failed action's half output is gone


def test_keep_going_builds_independent_targets(tmp_path: Path):
    calls: Counter[str] = Counter()
    results = {r.name: r for r in engine_for(tmp_path, failing_graph(calls)).run([":after", ":y"], jobs=1, keep_going=True)}
    assert {n: r.status for n, r in results.items()} == {":a": "failed", ":after": "skipped", ":x": "built", ":y": "built"}
    assert results[":after"].reasons == [":a did not build"]
    assert calls == Counter({":x": 1, ":y": 1})


def test_without_keep_going_nothing_starts_after_a_failure(tmp_path: Path):
    calls: Counter[str] = Counter()
    results = statuses(engine_for(tmp_path, failing_graph(calls)).run([":after", ":y"], jobs=1))
    assert calls[":x"] == 0
    assert results[":x"] == "skipped"


def test_failed_target_keeps_its_previous_outputs(tmp_path: Path):
    src = tmp_path / "in.txt"
    calls: Counter[str] = Counter()

    def make(fs: FileStateCache) -> list[Target]:
        def act(ctx: ActionContext) -> None:
            calls[":a"] += 1
            text = src.read_text()
            (ctx.out_dir / "a.txt").write_text(text)
            if text == "bad":
                raise DlmError("bad input")
        return [Target(":a", "ra", 1, act, inputs=lambda: {"file:in": fs.hash(src)})]

    def run() -> TargetResult:
        fs = FileStateCache(tmp_path / "fs.pkl")
        return Engine(Graph(make(fs)), ActionCache(tmp_path / "actions", fs), BuildState(tmp_path / "st.pkl")).run([":a"])[0]

    src.write_text("good")
    good = run()
    assert good.status == "built"
    src.write_text("bad")
    bad = run()
    assert (bad.status, bad.error, bad.key) == ("failed", "bad input", None)
    cache = ActionCache(tmp_path / "actions", FileStateCache(None))
    assert [key for key, _ in cache.entries()] == [good.key]
    hit = cache.lookup(good.key)
    assert hit is not None and (hit.out_dir / "a.txt").read_text() == "good"
    assert temp_folders(tmp_path) == []
    src.write_text("good")
    again = run()
    assert (again.status, again.key) == ("cached", good.key)
    assert calls[":a"] == 2


def test_unexpected_exception_fails_the_target_in_one_line(tmp_path: Path, monkeypatch):
    """A non-DlmError from an action (a rule bug, a library's out-of-memory) fails that target
    with one line naming the exception; DLM_DEBUG=1 lets it propagate with its traceback."""
    def crash(ctx: ActionContext) -> None:
        raise ZeroDivisionError("rule bug\nsecond line")

    monkeypatch.delenv("DLM_DEBUG", raising=False)
    [result] = engine_for(tmp_path, [Target(":a", "ra", 1, crash)]).run([":a"])
    assert result.status == "failed"
    assert result.error == "ZeroDivisionError: rule bug\\nsecond line (DLM_DEBUG=1 shows the traceback)"
    assert ActionCache(tmp_path / "actions", FileStateCache(None)).entries() == []
    monkeypatch.setenv("DLM_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        engine_for(tmp_path, [Target(":a", "ra", 1, crash)]).run([":a"])


# --- cancellation ---------------------------------------------------------------------------


def test_cancel_stops_a_long_action_and_commits_nothing(tmp_path: Path):
    started = threading.Event()
    polls: Counter[str] = Counter()
    calls: Counter[str] = Counter()

    def long(ctx: ActionContext) -> None:
        (ctx.out_dir / "partial.bin").write_text("partial")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ctx.check_cancelled()
            polls["long"] += 1
            started.set()
            time.sleep(0.01)
        (ctx.out_dir / "done").write_text("not cancelled")  # pragma: no cover

    targets = [Target(":long", "train", 1, long, heavy=True),
               Target(":after", "export", 1, writes("e", "e", calls), deps=(":long",))]
    cancel = threading.Event()

    def canceller() -> None:
        assert started.wait(20)
        cancel.set()

    thread = threading.Thread(target=canceller)
    thread.start()
    with pytest.raises(KeyboardInterrupt):
        engine_for(tmp_path, targets).run([":after"], jobs=2, cancel=cancel)
    thread.join()
    assert polls["long"] >= 1
    assert calls == Counter()
    assert ActionCache(tmp_path / "actions", FileStateCache(None)).entries() == []
    assert temp_folders(tmp_path) == []
    assert BuildState(tmp_path / "st.pkl").previous(":long") is None

    # the next build (not cancelled) starts from scratch and completes
    quick = [Target(":long", "train", 1, writes("w", "w"), heavy=True), targets[1]]
    assert statuses(engine_for(tmp_path, quick).run([":after"])) == {":long": "built", ":after": "built"}


def test_cancel_set_before_the_run_builds_nothing(tmp_path: Path):
    calls: Counter[str] = Counter()
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(KeyboardInterrupt):
        engine_for(tmp_path, [Target(":a", "ra", 1, writes("a", "a", calls))]).run([":a"], cancel=cancel)
    assert calls == Counter()
    assert ActionCache(tmp_path / "actions", FileStateCache(None)).entries() == []


# --- a hard crash (SIGKILL) mid-action ------------------------------------------------------

CRASHY = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from dlmbuild.engine.actioncache import ActionCache
    from dlmbuild.engine.executor import Engine
    from dlmbuild.engine.filestate import FileStateCache
    from dlmbuild.engine.graph import Graph
    from dlmbuild.engine.state import BuildState
    from dlmbuild.engine.target import Target

    tmp, mode = Path(sys.argv[1]), sys.argv[2]
    src = tmp / "in.txt"
    fs = FileStateCache(tmp / "fs.pkl")

    def act(ctx):
        text = src.read_text()
        (ctx.out_dir / "part1.txt").write_text(text)
        if mode == "hang":
            (tmp / "started").write_text(str(os.getpid()))
            time.sleep(120)
        (ctx.out_dir / "part2.txt").write_text(text[::-1])

    graph = Graph([Target(":a", "crashy", 1, act, inputs=lambda: {"file:in": fs.hash(src)})])
    engine = Engine(graph, ActionCache(tmp / "actions", fs), BuildState(tmp / "st.pkl"))
    result = engine.run([":a"])[0]
    print(result.status, result.key)
""")


def child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH", "")]))}


def run_crashy(tmp: Path, mode: str) -> tuple[str, str]:
    script = tmp / "crashy.py"
    script.write_text(CRASHY)
    proc = subprocess.run([sys.executable, str(script), str(tmp), mode], capture_output=True, text=True, cwd=REPO, timeout=60,
                          env=child_env())
    assert proc.returncode == 0, proc.stderr
    status, key = proc.stdout.split()
    return status, key


def committed_entry_dirs(tmp: Path) -> list[Path]:
    """Every visible (non-dot) folder under the shards of actions/."""
    root = tmp / "actions"
    return [entry for shard in root.iterdir() if shard.is_dir() and not shard.name.startswith(".")
            for entry in shard.iterdir() if not entry.name.startswith(".")]


def crash_mid_action(tmp: Path) -> None:
    script = tmp / "crashy.py"
    script.write_text(CRASHY)
    (tmp / "started").unlink(missing_ok=True)
    proc = subprocess.Popen([sys.executable, str(script), str(tmp), "hang"], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=child_env())
    try:
        deadline = time.monotonic() + 60
        while not (tmp / "started").exists():
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "crashy build never reached its action"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        if proc.stderr:
            proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL


def test_sigkill_mid_action_leaves_the_cache_consistent(tmp_path: Path):
    src = tmp_path / "in.txt"
    src.write_text("version one")
    status, key1 = run_crashy(tmp_path, "ok")
    assert status == "built"

    src.write_text("version two")
    crash_mid_action(tmp_path)

    # only committed entries are visible, each with its manifest: the previous key's
    cache = ActionCache(tmp_path / "actions", FileStateCache(None))
    assert [key for key, _ in cache.entries()] == [key1]
    visible = committed_entry_dirs(tmp_path)
    assert [p.name for p in visible] == [key1]
    assert all((p / "manifest.json").exists() for p in visible)
    # the half-written output exists only in a hidden temp folder
    partial = [p for p in (tmp_path / "actions").rglob("part1.txt") if p.read_text() == "version two"]
    assert partial and all(any(part.startswith(".") for part in p.relative_to(tmp_path / "actions").parts) for p in partial)
    # the previous outputs are intact and verify
    hit = cache.lookup(key1)
    assert hit is not None
    assert (hit.out_dir / "part1.txt").read_text() == "version one"
    assert (hit.out_dir / "part2.txt").read_text() == "eno noisrev"

    # a fresh build completes, and reverting is a hit
    status, key2 = run_crashy(tmp_path, "ok")
    assert status == "built" and key2 != key1
    fresh = ActionCache(tmp_path / "actions", FileStateCache(None)).lookup(key2)
    assert fresh is not None and (fresh.out_dir / "part2.txt").read_text() == "owt noisrev"
    src.write_text("version one")
    assert run_crashy(tmp_path, "ok") == ("cached", key1)


def test_orphaned_temp_folders_are_swept_by_the_next_build(tmp_path: Path):
    src = tmp_path / "in.txt"
    src.write_text("version two")
    crash_mid_action(tmp_path)
    assert temp_folders(tmp_path)  # the killed run's debris
    assert run_crashy(tmp_path, "ok")[0] == "built"
    assert temp_folders(tmp_path) == []
