"""Running a build: keys in dependency order, cache hits reused, the rest run and committed.

Before any work, a request whose closure holds a target this dlm cannot build (``unavailable``,
e.g. a planned ``:pack``) is refused whole, one line per such target: nothing is built first.

Reading top to bottom, a target is:
  0. unavailable (dry run only) if it, or a dependency, cannot be built by this dlm;
  1. skipped   if a dependency failed or was skipped;
  2. keyed     from its rule, config slice, inputs, dependency output hashes and toolchain;
  3. cached    if the action cache holds verified outputs for that key, or a shared remote
     cache does (downloaded, verified, committed locally: "fetched from remote NAME");
  4. dirty     (dry run) otherwise, with reasons;
  5. built     by running its action into a temporary folder that is committed atomically,
     or failed, leaving every previous output as it was.
Independent targets run in a thread pool of ``jobs`` workers; heavy targets (training, GGUF)
also take a lock so at most one runs at a time. Ctrl-C sets a cancel flag that actions poll,
waits for running actions to stop, and re-raises.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlmbuild.engine.actioncache import ActionCache
from dlmbuild.engine.explain import reasons
from dlmbuild.engine.graph import Graph
from dlmbuild.engine.hashing import hash_json
from dlmbuild.engine.remote import GuardedRemote
from dlmbuild.engine.state import BuildState
from dlmbuild.engine.target import ActionContext, InputsUnavailable, Target
from dlmbuild.errors import DlmError, UsageError
from dlmbuild.util.text import one_line


class TargetsUnavailable(UsageError):
    """The request needs targets this dlm cannot build; raised before anything is built. The
    message holds one line per target; the CLI prefixes the first with ``dlm:``, so the others
    carry the prefix themselves."""

    def __init__(self, lines: list[str]):
        super().__init__("\ndlm: ".join(lines))
        self.lines = lines


@dataclass
class TargetResult:
    name: str
    status: str  # built | cached | dirty | unavailable | failed | skipped
    seconds: float = 0.0
    key: str | None = None
    output_hash: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    out_dir: Path | None = None
    reasons: list[str] = field(default_factory=list)
    error: str | None = None
    # The key with the machine left out: the same on every machine for the same recipe (equal to
    # ``key`` for targets that are not machine-bound). ``machine_bound``: this target, or one it
    # depends on, declares a machine component, so its bytes may differ between machine classes.
    basis: str | None = None
    machine_bound: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "target": self.name,
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "key": self.key,
            "output_hash": self.output_hash,
            "outputs": {rel: str(self.out_dir / rel) for rel in self.files} if self.out_dir else {},
            "reasons": self.reasons,
            "error": self.error,
        }


@dataclass
class Engine:
    graph: Graph
    cache: ActionCache
    state: BuildState
    project: Any = None
    log: Callable[[str], None] = lambda message: None
    on_result: Callable[[TargetResult], None] = lambda result: None
    remote: GuardedRemote | None = None  # a shared action cache, consulted on a local miss

    def run(self, requested: list[str], *, jobs: int = 1, keep_going: bool = False, dry_run: bool = False, explain: bool = False,
            cancel: threading.Event | None = None) -> list[TargetResult]:
        """Build ``requested`` and what they need; ``cancel`` (set from another thread) stops
        the build as Ctrl-C does. Raises ``TargetsUnavailable`` before any work when the closure
        holds a target that cannot be built (a dry run reports those as ``unavailable``)."""
        order = self.graph.closure(requested)
        if not dry_run:
            refused = self.graph.unavailable(requested)
            if refused:
                raise TargetsUnavailable(refused)
            self.cache.sweep()  # callers that build hold the store lock: no live build owns leftovers
        results: dict[str, TargetResult] = {}
        pending = list(order)
        running: dict[Future, str] = {}
        heavy = threading.Lock()
        cancelled = cancel or threading.Event()
        stop = False
        pool = ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="dlm")
        try:
            while pending or running:
                for name in list(pending):
                    if stop or len(running) >= max(1, jobs):
                        break
                    target = self.graph.targets[name]
                    if not all(dep in results for dep in target.deps):
                        continue
                    pending.remove(name)
                    unbuildable = [d for d in target.deps if results[d].status == "unavailable"]
                    if not target.buildable or unbuildable:  # only a dry run gets here
                        why = target.why_unavailable or f"depends on unavailable {unbuildable[0]}"
                        results[name] = TargetResult(name, "unavailable", reasons=[why])
                        self.on_result(results[name])
                        continue
                    blocked = [d for d in target.deps if results[d].status in ("failed", "skipped")]
                    if blocked:
                        results[name] = TargetResult(name, "skipped", reasons=[f"{blocked[0]} did not build"])
                        self.on_result(results[name])
                        continue
                    dirty_deps = [d for d in target.deps if results[d].status == "dirty"]
                    if dirty_deps:
                        results[name] = TargetResult(name, "dirty", reasons=[f"depends on dirty {dirty_deps[0]}"])
                        self.on_result(results[name])
                        continue
                    deps = {d: results[d] for d in target.deps}
                    future = pool.submit(self._one, target, deps, heavy, cancelled, dry_run, explain)
                    running[future] = name
                if not running:
                    # Skips and dry-run verdicts resolve synchronously in build order, so with
                    # nothing running every pending target is either done or stopped.
                    break
                if cancelled.is_set():
                    raise KeyboardInterrupt
                done, _ = wait(list(running), timeout=0.2, return_when=FIRST_COMPLETED)
                for future in done:
                    name = running.pop(future)
                    results[name] = future.result()
                    self.on_result(results[name])
                    if results[name].status == "failed" and not keep_going:
                        stop = True
            for name in pending:
                if name not in results:
                    results[name] = TargetResult(name, "skipped", reasons=["build stopped after a failure"])
        except KeyboardInterrupt:
            cancelled.set()
            for future in running:
                future.exception()  # wait, and swallow the action's own KeyboardInterrupt
            raise
        finally:
            pool.shutdown(wait=True)
            self.state.save()
            self.cache.filestate.save()
        return [results[n] for n in order if n in results]

    def _one(self, target: Target, deps: dict[str, TargetResult], heavy: threading.Lock, cancelled: threading.Event, dry_run: bool, explain: bool) -> TargetResult:
        started = time.perf_counter()
        try:
            components = {
                "rule": target.rule_id,
                "config": target.config,
                "inputs": target.inputs(),
                "deps": {d: r.output_hash for d, r in sorted(deps.items())},
                "toolchain": target.toolchain(),
            }
            machine = target.machine()
            if machine:  # only then, so machine-independent keys stay what they were
                components["machine"] = machine
            key = hash_json(components)
            bound = bool(machine) or any(r.machine_bound for r in deps.values())
            basis = key if not bound else hash_json(
                {**{k: v for k, v in components.items() if k != "machine"},
                 "deps": {d: (r.basis if r.machine_bound else r.output_hash) for d, r in sorted(deps.items())}})
            known = {"basis": basis, "machine_bound": bound}
            hit = self.cache.lookup(key)
            origin: list[str] = []
            if hit is None and self.remote is not None and not dry_run:
                hit = self.remote.fetch(key, target, self.cache)
                origin = [f"fetched from remote {self.remote.name}"] if hit is not None else []
            if hit is not None:
                self.state.record(target.name, components, key)
                if target.publish is not None and not dry_run:
                    target.publish(key, hit.out_dir)
                return TargetResult(target.name, "cached", time.perf_counter() - started, key, hit.output_hash, hit.files,
                                    hit.out_dir, origin, **known)
            why = reasons(self.state.previous(target.name), components) if (explain or dry_run) else []
            if dry_run:
                if self.remote is not None and self.remote.contains(key, target):
                    why = [f"remote {self.remote.name} has it (a build fetches it)", *why]
                return TargetResult(target.name, "dirty", time.perf_counter() - started, key, reasons=why, **known)
            if cancelled.is_set():
                raise KeyboardInterrupt
            if why:
                self.log(f"{target.name}: {'; '.join(why)}")
            with heavy if target.heavy else contextlib.nullcontext():
                outputs = self._execute(target, key, deps, cancelled)
            self.state.record(target.name, components, key)
            if target.publish is not None:
                target.publish(key, outputs.out_dir)
            if self.remote is not None:
                self.remote.after_build(key, target, self.cache)
            return TargetResult(target.name, "built", time.perf_counter() - started, key, outputs.output_hash, outputs.files,
                                outputs.out_dir, why, **known)
        except InputsUnavailable as exc:
            return TargetResult(target.name, "dirty", time.perf_counter() - started, reasons=[str(exc)])
        except DlmError as exc:
            return TargetResult(target.name, "failed", time.perf_counter() - started, error=str(exc))
        except Exception as exc:  # a bug or a library failure (e.g. out of memory): one line, not a traceback
            if os.environ.get("DLM_DEBUG"):
                raise
            return TargetResult(target.name, "failed", time.perf_counter() - started,
                                error=f"{type(exc).__name__}: {one_line(str(exc))} (DLM_DEBUG=1 shows the traceback)")

    def _execute(self, target: Target, key: str, deps: dict[str, TargetResult], cancelled: threading.Event):
        self.cache.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{key[:12]}-", dir=self.cache.root))
        try:
            out = tmp / "out"
            out.mkdir()
            previous = self.state.previous(target.name)
            prev_out = self.cache.entry_dir(previous["key"]) / "out" if previous else None
            ctx = ActionContext(target, out, {d: r.out_dir for d, r in deps.items()}, self.project, cancelled, self.log,
                                prev_out if prev_out is not None and prev_out.is_dir() else None, key)
            assert target.action is not None
            target.action(ctx)
            return self.cache.commit(key, target.name, out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

