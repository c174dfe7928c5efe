"""Low-level pieces shared by the engine, the document layer and everything above them.

Nothing here imports any other ``dlmbuild`` package: text helpers, did-you-mean, stat
signatures, inotify, installed package versions. Both ``engine`` and ``document`` may import
from here; this package imports from neither.
"""
