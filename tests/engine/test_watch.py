"""watch.relevant: which file-change events restart a ``--watch`` build.

(An integration test of ``watch_build`` belongs with the project-level tests.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from dlmbuild.engine.watch import IGNORED_NAMES, relevant

PROJECT = Path("/proj")
DOC = PROJECT / "notes.dlm"
SRC = PROJECT / "src"
WATCHED = [DOC, SRC, PROJECT / "media" / "logo.png"]


@pytest.mark.parametrize("path", [
    "/proj/notes.dlm",                 # the document itself
    "/proj/src",                       # a watched folder itself (created, deleted)
    "/proj/src/a.py",                  # a file in a watched folder
    "/proj/src/deep/er/b.md",          # nested
    "/proj/src/.dlmignore",            # hidden files are sources too
    "/proj/media/logo.png",            # a single watched file
])
def test_relevant_changes(path: str):
    assert relevant(path, WATCHED) is True


@pytest.mark.parametrize("path", [
    "/proj/dlm.lock",                  # our own lock file write
    "/proj/src/dlm.lock",              # ... wherever it lies
    "/proj/.notes.dlm.k3j4h5.tmp",     # our atomic write's temp sibling
    "/proj/src/.a.py.abc123.tmp",      # ... inside a watched folder
    "/proj/src/.git/index",            # git's bookkeeping
    "/proj/src/.git/objects/ab/cdef",
    "/proj/src/.#a.py",                # an editor's lock file
    "/proj/other.dlm",                 # a sibling document
    "/proj/notes.dlm.bak",             # a name extending the document's
    "/proj/src2/a.py",                 # a folder whose name extends a watched one
    "/proj/media/logo.png.orig",
    "/elsewhere/src/a.py",
    "/proj",                           # a parent of watched paths
])
def test_irrelevant_changes(path: str):
    assert relevant(path, WATCHED) is False


def test_nothing_watched_means_nothing_relevant():
    assert relevant("/proj/notes.dlm", []) is False


def test_ignored_names():
    assert IGNORED_NAMES == ("dlm.lock",)
