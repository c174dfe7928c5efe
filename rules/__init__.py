"""dlm's build rules, one module per rule kind (installed as ``dlmbuild.rules``).

``graph_for(project)`` is the one place that knows which rules exist; the engine only sees the
targets they declare.
"""

from __future__ import annotations

from dlmbuild.engine.graph import Graph

DEFAULT_TARGET = ":train"


def graph_for(project) -> Graph:
    """Every target of ``project`` and the aliases users type, as one checked graph."""
    from dlmbuild.rules import bundles, gate, gguf, media, planned, prefer, tokenize, train, train_media

    media.check_media_sections(project)
    modality = media.base_modality(project)
    if train_media.is_media_base(modality):
        return Graph(*media.media_graph(project, modality))
    targets = (tokenize.targets(project) + train.targets(project) + prefer.targets(project) + gguf.targets(project) + bundles.targets(project)
               + gate.targets(project) + planned.targets(project))
    return Graph(targets, planned.aliases(project))
