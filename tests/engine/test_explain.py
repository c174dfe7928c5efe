"""Keys and dirtiness: what makes a target rebuild, and the reason ``--explain`` gives.

The first half calls ``explain.reasons`` directly; the second drives the engine over a small
two-rule graph, starting a fresh engine (state reloaded from disk) for every build as the CLI
does.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from dlmbuild.engine.actioncache import ActionCache
from dlmbuild.engine.executor import Engine
from dlmbuild.engine.explain import reasons
from dlmbuild.engine.filestate import FileStateCache
from dlmbuild.engine.graph import Graph
from dlmbuild.engine.state import BuildState
from dlmbuild.engine.target import ActionContext, InputsUnavailable, Target


def comp(**over: Any) -> dict[str, Any]:
    base = {"rule": "r@1", "config": {}, "inputs": {}, "deps": {}, "toolchain": {}}
    return {**base, **over}


# --- explain.reasons ------------------------------------------------------------------------


def test_never_built():
    assert reasons(None, comp()) == ["never built"]


def test_identical_components_mean_missing_outputs():
    assert reasons(comp(key="k"), comp()) == ["outputs missing from the cache"]


def test_rule_version():
    assert reasons(comp(rule="tokenize@1"), comp(rule="tokenize@2")) == ["rule changed: tokenize@1 -> tokenize@2"]


def test_config_changes_flat_and_nested():
    old = comp(config={"x": 1, "lora": {"r": 8, "alpha": 16}, "name": "a"})
    new = comp(config={"x": 2, "lora": {"r": 16, "alpha": 16}, "name": "b"})
    assert reasons(old, new) == ["config lora.r: 8 -> 16", "config name: 'a' -> 'b'", "config x: 1 -> 2"]


def test_config_key_added_or_removed_is_named():
    added = reasons(comp(config={}), comp(config={"y": 3}))
    removed = reasons(comp(config={"y": 3}), comp(config={}))
    assert len(added) == len(removed) == 1
    assert added[0].startswith("config y: ") and "<unset>" in added[0] and added[0].endswith(" -> 3")
    assert removed[0].startswith("config y: 3 -> ") and "<unset>" in removed[0]


def test_long_config_values_are_shortened():
    (line,) = reasons(comp(config={"prompt": "a" * 100}), comp(config={"prompt": "b" * 100}))
    old, new = line.removeprefix("config prompt: ").split(" -> ")
    assert len(old) == len(new) == 60 and old.endswith("...") and old.startswith("'aaa")


def test_inputs_added_removed_changed():
    old = comp(inputs={"file:a": "1", "file:b": "2", "section:s1": "3"})
    new = comp(inputs={"file:a": "1", "file:b": "X", "file:c": "4"})
    assert reasons(old, new) == ["input added: file:c", "input removed: section:s1", "input changed: file:b"]


def test_many_changed_inputs_are_summarised():
    old = comp(inputs={f"file:{i}": "old" for i in range(7)})
    new = comp(inputs={f"file:{i}": "new" for i in range(7)})
    assert reasons(old, new) == ["input changed: file:0, file:1, file:2, file:3, file:4 and 2 more"]


def test_dependencies():
    old = comp(deps={":a": "h1"})
    assert reasons(old, comp(deps={":a": "h2"})) == ["output of :a changed"]
    assert reasons(old, comp(deps={":a": "h1", ":b": "h3"})) == ["new dependency :b"]


def test_toolchain_changed_and_added():
    old = comp(toolchain={"torch": "2.0"})
    assert reasons(old, comp(toolchain={"torch": "2.1"})) == ["toolchain torch: 2.0 -> 2.1"]
    assert reasons(old, comp(toolchain={"torch": "2.0", "peft": "0.13"})) == ["toolchain peft: absent -> 0.13"]


def test_several_reasons_in_a_fixed_order():
    old = comp(rule="r@1", config={"x": 1}, inputs={"f": "1"}, deps={":a": "1"}, toolchain={"t": "1"})
    new = comp(rule="r@2", config={"x": 2}, inputs={"f": "2"}, deps={":a": "2"}, toolchain={"t": "2"})
    assert reasons(old, new) == ["rule changed: r@1 -> r@2", "config x: 1 -> 2", "input changed: f",
                                 "output of :a changed", "toolchain t: 1 -> 2"]


def test_toolchain_entry_removed_is_named():
    (line,) = reasons(comp(toolchain={"torch": "2.0"}), comp(toolchain={}))
    assert "torch" in line


def test_dependency_removed_is_named():
    (line,) = reasons(comp(deps={":a": "h1"}), comp(deps={}))
    assert ":a" in line


# --- through the engine ---------------------------------------------------------------------


class Rig:
    """:a lowercases in.txt (config x, toolchain tool); :b reverses :a's output (config y).
    ``cfg`` plays the whole project config: each target declares only its own slice."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.src = tmp / "in.txt"
        self.src.write_text("Hello World")
        self.cfg: dict[str, Any] = {"x": 1, "y": "fwd", "unused": 0}
        self.versions = {":a": 1, ":b": 1}
        self.tool = "1.0"
        self.calls: Counter[str] = Counter()

    def targets(self, fs: FileStateCache) -> list[Target]:
        def lower(ctx: ActionContext) -> None:
            self.calls[":a"] += 1
            (ctx.out_dir / "a.txt").write_text(self.src.read_text().lower())

        def rev(ctx: ActionContext) -> None:
            self.calls[":b"] += 1
            (ctx.out_dir / "b.txt").write_text((ctx.dep_outputs[":a"] / "a.txt").read_text()[::-1])

        return [
            Target(":a", "lower", self.versions[":a"], lower, config={"x": self.cfg["x"]},
                   inputs=lambda: {"file:in": fs.hash(self.src)}, toolchain=lambda: {"tool": self.tool}),
            Target(":b", "reverse", self.versions[":b"], rev, deps=(":a",), config={"y": self.cfg["y"]}),
        ]

    def run(self, *, explain: bool = True, dry_run: bool = False) -> dict[str, Any]:
        fs = FileStateCache(self.tmp / "fs.pkl")
        engine = Engine(Graph(self.targets(fs)), ActionCache(self.tmp / "actions", fs), BuildState(self.tmp / "st.pkl"))
        return {r.name: r for r in engine.run([":b"], explain=explain, dry_run=dry_run)}

    @staticmethod
    def summary(results: dict[str, Any]) -> dict[str, tuple[str, list[str]]]:
        return {n: (r.status, r.reasons) for n, r in results.items()}


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    r = Rig(tmp_path)
    first = r.run()
    assert Rig.summary(first) == {":a": ("built", ["never built"]), ":b": ("built", ["never built"])}
    assert (first[":b"].out_dir / "b.txt").read_text() == "dlrow olleh"
    r.calls.clear()
    return r


def test_same_inputs_are_cached(rig: Rig):
    results = rig.run()
    assert Rig.summary(results) == {":a": ("cached", []), ":b": ("cached", [])}
    assert rig.calls == Counter()


def test_input_change(rig: Rig):
    rig.src.write_text("Goodbye")
    results = rig.run()
    assert Rig.summary(results) == {":a": ("built", ["input changed: file:in"]), ":b": ("built", ["output of :a changed"])}
    assert (results[":b"].out_dir / "b.txt").read_text() == "eybdoog"


def test_config_key_change(rig: Rig):
    rig.cfg["x"] = 2
    results = rig.run()
    assert results[":a"].status == "built"
    assert results[":a"].reasons == ["config x: 1 -> 2"]


def test_config_change_of_a_dependent_only(rig: Rig):
    rig.cfg["y"] = "bwd"
    assert Rig.summary(rig.run()) == {":a": ("cached", []), ":b": ("built", ["config y: 'fwd' -> 'bwd'"])}
    assert rig.calls == Counter({":b": 1})


def test_edit_to_an_undeclared_config_key_dirties_nothing(rig: Rig):
    rig.cfg["unused"] = 42
    assert Rig.summary(rig.run()) == {":a": ("cached", []), ":b": ("cached", [])}
    assert rig.calls == Counter()


def test_rule_version_bump(rig: Rig):
    rig.versions[":b"] = 2
    assert Rig.summary(rig.run()) == {":a": ("cached", []), ":b": ("built", ["rule changed: reverse@1 -> reverse@2"])}


def test_toolchain_change(rig: Rig):
    rig.tool = "1.1"
    results = rig.run()
    assert results[":a"].reasons == ["toolchain tool: 1.0 -> 1.1"]
    assert results[":a"].status == "built"
    # same bytes out of :a, so :b is untouched
    assert results[":b"].status == "cached"
    assert rig.calls == Counter({":a": 1})


def test_early_cutoff_when_a_dependency_rebuilds_to_identical_bytes(rig: Rig):
    before = rig.run()
    rig.src.write_text("HELLO WORLD")  # different input, same lowercased output
    after = rig.run()
    assert Rig.summary(after) == {":a": ("built", ["input changed: file:in"]), ":b": ("cached", [])}
    assert after[":a"].key != before[":a"].key
    assert after[":a"].output_hash == before[":a"].output_hash
    assert after[":b"].key == before[":b"].key
    assert rig.calls == Counter({":a": 1})


def test_reverting_an_edit_is_a_cache_hit(rig: Rig):
    original = rig.run()
    rig.cfg["x"] = 2
    rig.src.write_text("Changed")
    assert rig.run()[":a"].status == "built"
    rig.cfg["x"] = 1
    rig.src.write_text("Hello World")
    rig.calls.clear()
    reverted = rig.run()
    assert Rig.summary(reverted) == {":a": ("cached", []), ":b": ("cached", [])}
    assert reverted[":b"].key == original[":b"].key
    assert rig.calls == Counter()


def test_reasons_compare_with_the_last_build_not_the_first(rig: Rig):
    rig.cfg["x"] = 2
    rig.run()
    rig.cfg["x"] = 3
    assert rig.run()[":a"].reasons == ["config x: 2 -> 3"]


def test_without_explain_built_targets_carry_no_reasons(rig: Rig):
    rig.cfg["x"] = 5
    assert rig.run(explain=False)[":a"].reasons == []


def test_dry_run_reports_and_builds_nothing(rig: Rig):
    rig.src.write_text("Dry")
    results = rig.run(dry_run=True)
    assert Rig.summary(results) == {":a": ("dirty", ["input changed: file:in"]), ":b": ("dirty", ["depends on dirty :a"])}
    assert rig.calls == Counter()
    assert rig.run()[":a"].reasons == ["input changed: file:in"]  # the dry run recorded nothing


def test_inputs_unavailable_makes_the_target_dirty(tmp_path: Path):
    def unavailable() -> dict[str, str]:
        raise InputsUnavailable("base not materialized yet")

    calls = Counter()
    graph = Graph([Target(":a", "r", 1, lambda ctx: calls.update(["a"]), inputs=unavailable),
                   Target(":b", "s", 1, lambda ctx: calls.update(["b"]), deps=(":a",))])
    engine = Engine(graph, ActionCache(tmp_path / "actions", FileStateCache(None)), BuildState(None))
    results = {r.name: (r.status, r.reasons) for r in engine.run([":b"], dry_run=True)}
    assert results == {":a": ("dirty", ["base not materialized yet"]), ":b": ("dirty", ["depends on dirty :a"])}
    assert calls == Counter()


def test_machine_class_fields_are_named_as_changes():
    old = comp(machine={"device": "cpu", "precision": "bf16", "isa": "amx"})
    new = comp(machine={"device": "cpu", "precision": "fp32", "isa": "amx"})
    assert reasons(old, new) == ["precision changed: bf16 -> fp32"]
    assert reasons(comp(), new) == ["device changed: unrecorded -> cpu", "isa changed: unrecorded -> amx",
                                     "precision changed: unrecorded -> fp32"]


def test_a_machine_component_keys_the_target_and_its_dependents_but_not_their_basis(tmp_path: Path):
    machine = {"precision": "bf16"}

    def action(ctx: ActionContext) -> None:
        (ctx.out_dir / "out.txt").write_text(f"{ctx.target.name} in {machine.get('precision', 'none')}")

    def build() -> dict:
        targets = [Target(":free", "free", 1, action),
                   Target(":adapter", "train", 1, action, machine=lambda: dict(machine)),
                   Target(":export", "export", 1, action, deps=(":adapter",))]
        fs = FileStateCache(tmp_path / "fs.pkl")
        engine = Engine(Graph(targets), ActionCache(tmp_path / "actions", fs), BuildState(tmp_path / "st.pkl"))
        return {r.name: r for r in engine.run([":free", ":export"], explain=True)}

    bf16 = build()
    assert not bf16[":free"].machine_bound and bf16[":free"].basis == bf16[":free"].key
    assert bf16[":adapter"].machine_bound and bf16[":export"].machine_bound
    assert bf16[":adapter"].basis != bf16[":adapter"].key
    machine["precision"] = "fp32"
    fp32 = build()
    assert fp32[":free"].status == "cached" and fp32[":free"].key == bf16[":free"].key
    assert fp32[":adapter"].status == "built" and fp32[":adapter"].reasons == ["precision changed: bf16 -> fp32"]
    assert fp32[":adapter"].key != bf16[":adapter"].key and fp32[":export"].key != bf16[":export"].key
    assert fp32[":adapter"].output_hash != bf16[":adapter"].output_hash
    # the same recipe on another class: the basis does not move, for the adapter or what is built from it
    assert fp32[":adapter"].basis == bf16[":adapter"].basis and fp32[":export"].basis == bf16[":export"].basis
