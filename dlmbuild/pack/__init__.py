"""``.dlm.pack``: one file that carries a document, its sources, its lock and what its store built.

- ``archive``: the container: a deterministic, zstd-compressed tar with a manifest of every
  member's sha256 and size, and an extractor that refuses hostile archives (with ``names``, the
  rules for member paths, ``manifest``, its shape, and ``zstd_frames``, truncation checks);
- ``contents``: what a document's pack holds (the document, its sources, ``dlm.lock``, the
  action-cache entries of its locked targets, its current adapters and replay corpus);
- ``write``: ``pack_document``, the library behind ``dlm pack`` (its refusals, the stale check);
- ``base``: ``--include-base``: which bases may travel, their files, and installing one on unpack;
- ``restore``: unpacking into a folder and a store, so that ``dlm build`` is a no-op.
"""
