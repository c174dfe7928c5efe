"""dlmbuild.util.inotify: every change made before ``drain`` is in what it returns."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from dlmbuild.util import inotify

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux-only")


@pytest.fixture
def watch():
    w = inotify.FolderWatch()
    yield w
    w.close()


def names(events, mask):
    return sorted(e.name for e in events if e.mask & mask)


def test_changes_are_queued_before_the_call_that_made_them_returns(watch, tmp_path: Path):
    (tmp_path / "a.md").write_text("one")
    assert watch.add(str(tmp_path))
    assert watch.drain() == []
    (tmp_path / "a.md").write_text("two")  # no sleep: the event is queued by the write itself
    (tmp_path / "b.md").write_text("new")
    os.rename(tmp_path / "b.md", tmp_path / "c.md")
    os.chmod(tmp_path / "a.md", 0o600)
    events = watch.drain()
    assert names(events, inotify.IN_MODIFY) == ["a.md", "b.md"]
    assert names(events, inotify.IN_ATTRIB) == ["a.md"]
    assert names(events, inotify.IN_CREATE) == ["b.md"]
    assert names(events, inotify.IN_MOVED_FROM) == ["b.md"] and names(events, inotify.IN_MOVED_TO) == ["c.md"]
    assert {e.folder for e in events} == {str(tmp_path)}
    assert watch.drain() == []


def test_a_removed_folder_is_reported_and_no_longer_watched(watch, tmp_path: Path):
    sub = tmp_path / "sub"
    sub.mkdir()
    assert watch.add(str(sub))
    sub.rmdir()
    events = watch.drain()
    assert any(e.mask & inotify.IN_DELETE_SELF and e.folder == str(sub) for e in events)
    assert str(sub) not in watch.folders()
    sub.mkdir()
    assert watch.add(str(sub)) and str(sub) in watch.folders()


def test_a_missing_folder_or_a_file_cannot_be_watched(watch, tmp_path: Path):
    (tmp_path / "f").write_text("x")
    assert not watch.add(str(tmp_path / "missing"))
    assert not watch.add(str(tmp_path / "f"))  # IN_ONLYDIR


def test_a_local_temporary_folder_is_not_a_network_filesystem(tmp_path: Path):
    assert not inotify.network_filesystem(str(tmp_path))
    assert inotify.network_filesystem(str(tmp_path / "missing"))  # unknown: not trusted
