"""Remotes: named fsspec locations a team shares packs and built action-cache entries through.

- ``config``: the user-level list of remotes (``$DLM_HOME/config.toml``), never the document;
- ``urls``: which URLs are accepted (fsspec's protocols, no credentials in them);
- ``objects``: the content-addressed layout on a remote, every download checked by sha256;
- ``action_cache``: the shared action cache the engine consults (engine/remote.py's protocol);
- ``probe``: whether a remote answers, within a deadline.
"""
