"""The target graph: name resolution, aliases, cycles and build order."""

from __future__ import annotations

import pytest

from dlmbuild.engine.graph import Graph
from dlmbuild.engine.target import Target
from dlmbuild.errors import EXIT_BAD_INPUT, DlmError, UsageError


def t(name: str, *deps: str) -> Target:
    return Target(name, "rule", 1, None, deps=tuple(deps))


def diamond() -> Graph:
    #   :base -> :left  -> :top
    #   :base -> :right -> :top        :other is unrelated
    return Graph([t(":top", ":left", ":right"), t(":right", ":base"), t(":left", ":base"), t(":base"), t(":other")],
                 aliases={":all": [":top", ":other"], ":sides": [":right", ":left"]})


def test_resolve_accepts_names_with_or_without_colon():
    g = diamond()
    assert g.resolve([":left", "right"]) == [":left", ":right"]


def test_unknown_target_is_a_usage_error_with_a_hint():
    g = Graph([t(":tokenize"), t(":train")])
    with pytest.raises(UsageError) as info:
        g.resolve([":tokenzie"])
    message = str(info.value)
    assert "unknown target ':tokenzie'" in message
    assert "did you mean ':tokenize'?" in message
    assert "`dlm graph` lists them" in message
    assert info.value.exit_code == EXIT_BAD_INPUT
    assert "\n" not in message


def test_unknown_target_without_colon_is_reported_as_typed():
    g = Graph([t(":tokenize")])
    with pytest.raises(UsageError, match=r"unknown target 'tokenise' \(did you mean ':tokenize'\?\)"):
        g.resolve(["tokenise"])


def test_unknown_target_with_nothing_close_has_no_hint():
    g = Graph([t(":tokenize")])
    with pytest.raises(UsageError) as info:
        g.resolve([":zzzzzz"])
    assert "did you mean" not in str(info.value)


def test_hint_includes_aliases():
    with pytest.raises(UsageError, match=r"did you mean ':all'\?"):
        diamond().resolve([":alll"])


def test_alias_expansion_keeps_order_and_dedups():
    g = diamond()
    assert g.resolve([":all"]) == [":top", ":other"]
    assert g.resolve([":sides", ":left", "all"]) == [":right", ":left", ":top", ":other"]


def test_cycle_is_reported_with_its_path():
    with pytest.raises(DlmError) as info:
        Graph([t(":a", ":c"), t(":b", ":a"), t(":c", ":b"), t(":d")])
    message = str(info.value)
    assert message.startswith("rule bug: dependency cycle ")
    path = message.removeprefix("rule bug: dependency cycle ").split(" -> ")
    assert path[0] == path[-1]
    assert sorted(path[:-1]) == [":a", ":b", ":c"]
    edges = {(":c", ":a"), (":a", ":b"), (":b", ":c")}  # dependency -> dependent
    assert {(path[i], path[i + 1]) for i in range(3)} == edges


def test_self_dependency_is_a_cycle():
    with pytest.raises(DlmError, match=r"dependency cycle :a -> :a"):
        Graph([t(":a", ":a")])


def test_duplicate_and_unknown_dependency_are_rule_bugs():
    with pytest.raises(DlmError, match=r"target :a is defined twice"):
        Graph([t(":a"), t(":a")])
    with pytest.raises(DlmError, match=r":b depends on unknown target :missing"):
        Graph([t(":b", ":missing")])


def test_closure_is_topological_and_minimal():
    g = diamond()
    order = g.closure([":top"])
    assert order == [":base", ":left", ":right", ":top"]
    assert ":other" not in order
    position = {name: i for i, name in enumerate(order)}
    for name in order:
        for dep in g.targets[name].deps:
            assert position[dep] < position[name]


def test_closure_of_a_leaf_and_of_several_roots():
    g = diamond()
    assert g.closure([":base"]) == [":base"]
    assert g.closure([":other", ":left"]) == [":base", ":left", ":other"]
    assert g.closure(g.resolve([":all"])) == [":base", ":left", ":other", ":right", ":top"]


def test_closure_is_deterministic_whatever_the_definition_order():
    targets = [t(":z"), t(":m", ":z"), t(":a", ":z"), t(":q", ":a", ":m")]
    one = Graph(targets).closure([":q"])
    two = Graph(list(reversed(targets))).closure([":q"])
    assert one == two == [":z", ":a", ":m", ":q"]


def test_order_lists_every_target():
    assert diamond().order() == [":base", ":left", ":other", ":right", ":top"]
