"""The target graph: a networkx DiGraph with an edge from each dependency to its dependent."""

from __future__ import annotations

from collections.abc import Iterable

import networkx as nx

from dlmbuild.engine.target import Target
from dlmbuild.errors import DlmError, UsageError
from dlmbuild.util.suggest import did_you_mean


class Graph:
    def __init__(self, targets: Iterable[Target], aliases: dict[str, list[str]] | None = None):
        self.targets: dict[str, Target] = {}
        self.aliases = aliases or {}
        self.dag = nx.DiGraph()
        for target in targets:
            if target.name in self.targets:
                raise DlmError(f"rule bug: target {target.name} is defined twice")
            self.targets[target.name] = target
            self.dag.add_node(target.name)
        for target in self.targets.values():
            for dep in target.deps:
                if dep not in self.targets:
                    raise DlmError(f"rule bug: {target.name} depends on unknown target {dep}")
                self.dag.add_edge(dep, target.name)
        try:
            cycle = nx.find_cycle(self.dag)
        except nx.NetworkXNoCycle:
            cycle = None
        if cycle:
            path = " -> ".join([edge[0] for edge in cycle] + [cycle[0][0]])
            raise DlmError(f"rule bug: dependency cycle {path}")

    def resolve(self, names: Iterable[str]) -> list[str]:
        """Expand requested names (aliases included) to targets, with a hint for typos."""
        out: list[str] = []
        for raw in names:
            name = raw if raw.startswith(":") else f":{raw}"
            members = self.aliases.get(name, [name])
            for member in members:
                if member not in self.targets:
                    known = sorted(set(self.targets) | set(self.aliases))
                    raise UsageError(f"unknown target '{raw}'{did_you_mean(name, known)}; `dlm graph` lists them")
                if member not in out:
                    out.append(member)
        return out

    def closure(self, names: Iterable[str]) -> list[str]:
        """The requested targets and everything they depend on, in a deterministic build order."""
        wanted: set[str] = set()
        for name in names:
            wanted.add(name)
            wanted |= nx.ancestors(self.dag, name)
        return [n for n in nx.lexicographical_topological_sort(self.dag) if n in wanted]

    def unavailable(self, names: Iterable[str]) -> list[str]:
        """One line per target in the closure of ``names`` that cannot be built, saying why (and
        which requested target needs it, when it was not asked for itself); empty when all can."""
        names = list(names)
        lines = []
        for name in self.closure(names):
            target = self.targets[name]
            if target.buildable:
                continue
            line = target.why_unavailable
            if name not in names:
                needed_by = next(n for n in names if name in nx.ancestors(self.dag, n))
                line += f" (needed by {needed_by})"
            lines.append(line)
        return lines

    def order(self) -> list[str]:
        return list(nx.lexicographical_topological_sort(self.dag))
