"""Base models: the registry of known bases and how a document's ``base_model`` is resolved."""
