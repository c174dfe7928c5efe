"""dlm's build rules, one module per rule kind (installed as ``dlmbuild.rules``).

``graph_for(project)`` is the one place that knows which rules exist; the engine only sees the
targets they declare.
"""

from __future__ import annotations

from dlmbuild.engine.graph import Graph

DEFAULT_TARGET = ":tokenize"  # becomes ':train' when training lands


def graph_for(project) -> Graph:
    from dlmbuild.rules import planned, tokenize

    targets = tokenize.targets(project) + planned.targets(project)
    return Graph(targets, planned.aliases(project))
