"""``dlm preference mine``: preference triples mined from the current adapter's own answers.

For each instruction prompt the adapter is sampled N times, a judge scores the samples, and the
best and worst become a ``::preference::`` triple when the judge separates them by at least the
threshold. Modules: ``judges`` (who scores), ``run`` (sampling and pairing), ``stage`` (staged
triples in the store) and ``writeback`` (sections with ``auto-mined`` provenance, and revert).
"""
