"""The file-state cache: content hashes remembered by stat signature (util/filesig.py).

Files younger than ``RACY_NS`` are never remembered (git's "racily clean" rule), so most tests
push mtimes into the past with ``os.utime`` to exercise the remembered path.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from dlmbuild.engine.filestate import FileStateCache
from dlmbuild.engine.hashing import hash_bytes, hash_text
from dlmbuild.util.filesig import signature_of


def age(path: Path, seconds: float = 60.0) -> int:
    """Set the file's mtime ``seconds`` into the past (outside the racy window); returns it."""
    ns = time.time_ns() - int(seconds * 1e9)
    os.utime(path, ns=(ns, ns))
    return ns


def write_old(path: Path, text: str, seconds: float = 60.0) -> Path:
    path.write_text(text)
    age(path, seconds)
    return path


def test_first_hash_reads_second_does_not(tmp_path: Path):
    p = write_old(tmp_path / "a.txt", "hello")
    fs = FileStateCache(None)
    assert fs.hash(p) == hash_text("hello")
    assert fs.hashed == 1
    assert fs.hash(p) == hash_text("hello")
    assert fs.hash(str(p)) == hash_text("hello")
    assert fs.hashed == 1


def test_noop_rerun_from_saved_state_reads_nothing(tmp_path: Path):
    files = [write_old(tmp_path / f"f{i}.txt", f"content {i}") for i in range(3)]
    fs = FileStateCache(tmp_path / "state" / "files.pkl")
    first = [fs.hash(p) for p in files]
    assert fs.hashed == 3
    fs.save()
    assert (tmp_path / "state" / "files.pkl").exists()

    again = FileStateCache(tmp_path / "state" / "files.pkl")
    assert [again.hash(p) for p in files] == first
    assert again.hashed == 0


def test_touch_without_change_rehashes_to_same_hash(tmp_path: Path):
    p = write_old(tmp_path / "a.txt", "same", seconds=120)
    fs = FileStateCache(None)
    digest = fs.hash(p)
    age(p, seconds=30)  # "touch": mtime moves, content does not
    assert fs.hash(p) == digest
    assert fs.hashed == 2
    # and the new stat is remembered
    assert fs.hash(p) == digest
    assert fs.hashed == 2


def test_content_change_is_detected(tmp_path: Path):
    p = write_old(tmp_path / "a.txt", "before", seconds=120)
    fs = FileStateCache(None)
    assert fs.hash(p) == hash_text("before")
    p.write_text("after, longer")
    age(p, seconds=30)
    assert fs.hash(p) == hash_text("after, longer")


def test_same_size_change_with_new_mtime_is_detected(tmp_path: Path):
    p = write_old(tmp_path / "a.txt", "aaaa", seconds=120)
    fs = FileStateCache(None)
    assert fs.hash(p) == hash_text("aaaa")
    p.write_text("bbbb")
    age(p, seconds=30)
    assert fs.hash(p) == hash_text("bbbb")


def test_rename_is_keyed_by_path(tmp_path: Path):
    p = write_old(tmp_path / "a.txt", "moving")
    fs = FileStateCache(None)
    digest = fs.hash(p)
    q = tmp_path / "b.txt"
    os.rename(p, q)  # same inode, size and mtime under a new name
    assert fs.hash(q) == digest
    assert fs.hashed == 2  # the new path was read once
    assert fs.hash(q) == digest
    assert fs.hashed == 2
    # a different file later created under the old name is not confused with the old entry
    write_old(p, "something else", seconds=10)
    assert fs.hash(p) == hash_text("something else")


def test_swapping_two_files_by_rename(tmp_path: Path):
    a = write_old(tmp_path / "a", "AAAA")
    b = write_old(tmp_path / "b", "BBBB")
    fs = FileStateCache(None)
    ha, hb = fs.hash(a), fs.hash(b)
    os.rename(a, tmp_path / "t")
    os.rename(b, a)
    os.rename(tmp_path / "t", b)
    assert fs.hash(a) == hb
    assert fs.hash(b) == ha


def test_young_files_are_never_remembered(tmp_path: Path):
    """The racy rule: a file modified less than RACY_NS ago is re-read every time."""
    p = tmp_path / "fresh.txt"
    p.write_text("fresh")
    fs = FileStateCache(tmp_path / "files.pkl")
    assert fs.hash(p) == hash_text("fresh")
    assert fs.hash(p) == hash_text("fresh")
    assert fs.hashed == 2
    fs.save()
    assert not (tmp_path / "files.pkl").exists()  # nothing worth saving


def test_racy_write_within_one_clock_tick_is_detected(tmp_path: Path):
    """A same-size rewrite that keeps the exact mtime (a coarse clock) is still caught, because
    the first hash was taken while the file was young and therefore not remembered."""
    p = tmp_path / "racy.txt"
    p.write_text("aaaa")
    mtime = os.stat(p).st_mtime_ns
    fs = FileStateCache(None)
    assert fs.hash(p) == hash_text("aaaa")
    p.write_text("bbbb")
    os.utime(p, ns=(mtime, mtime))  # same size, same inode, same mtime: only content moved
    sig = signature_of(os.stat(p))
    assert (sig[0], sig[2]) == (mtime, 4)
    assert fs.hash(p) == hash_text("bbbb")


def test_old_file_rewritten_with_its_mtime_forced_back_is_noticed(tmp_path: Path):
    """An in-place same-size rewrite whose mtime is restored to the exact old nanosecond value
    (``touch -d``, ``cp -p`` onto the same inode) keeps mtime, size and inode; the ctime, which
    no user-space call can set, is why the signature holds it."""
    p = tmp_path / "old.txt"
    p.write_text("aaaa")
    mtime = age(p)
    fs = FileStateCache(None)
    assert fs.hash(p) == hash_text("aaaa")
    time.sleep(0.05)  # a later clock tick than the ctime age() left
    with open(p, "r+b") as handle:  # in place: same inode
        handle.write(b"bbbb")
    os.utime(p, ns=(mtime, mtime))
    assert fs.hash(p) == hash_text("bbbb")


def test_explicit_stat_is_used(tmp_path: Path):
    p = write_old(tmp_path / "a.txt", "x")
    fs = FileStateCache(None)
    st = os.stat(p)
    assert fs.hash(p, st) == hash_text("x")
    assert fs.hash(p, os.stat(p)) == hash_text("x")
    assert fs.hashed == 1


def test_remember_skips_reading(tmp_path: Path):
    old = write_old(tmp_path / "old.bin", "payload")
    young = tmp_path / "young.bin"
    young.write_text("payload")
    fs = FileStateCache(None)
    fs.remember(old, hash_bytes(b"payload"))
    fs.remember(young, hash_bytes(b"payload"))
    assert fs.hash(old) == hash_bytes(b"payload")
    assert fs.hashed == 0
    assert fs.hash(young) == hash_bytes(b"payload")
    assert fs.hashed == 1  # the young file was not remembered


def test_corrupt_state_file_only_costs_rehashing(tmp_path: Path):
    state = tmp_path / "files.pkl"
    state.write_bytes(b"\x80\x05not a pickle at all")
    p = write_old(tmp_path / "a.txt", "data")
    fs = FileStateCache(state)
    assert fs.hash(p) == hash_text("data")
    assert fs.hashed == 1
    fs.save()
    assert FileStateCache(state).hash(p) == hash_text("data")


def test_save_leaves_no_temp_files(tmp_path: Path):
    p = write_old(tmp_path / "a.txt", "data")
    fs = FileStateCache(tmp_path / "st" / "files.pkl")
    fs.hash(p)
    fs.save()
    fs.save()  # not dirty: no rewrite
    assert sorted(x.name for x in (tmp_path / "st").iterdir()) == ["files.pkl"]


def test_missing_file_raises_oserror(tmp_path: Path):
    with pytest.raises(FileNotFoundError):
        FileStateCache(None).hash(tmp_path / "nope")


def test_later_saves_append_to_a_journal_and_compact_when_it_grows(tmp_path: Path, monkeypatch):
    from dlmbuild.engine.filestate import journal_path

    state = tmp_path / "state" / "files.pkl"
    files = [write_old(tmp_path / f"f{i}.txt", f"content {i}") for i in range(8)]
    fs = FileStateCache(state)
    fs.hash(files[0])
    fs.save()  # the first save writes the snapshot
    assert state.exists() and not journal_path(state).exists()
    snapshot = state.read_bytes()
    monkeypatch.setattr(FileStateCache, "COMPACT_MIN", 4)
    for p in files[1:4]:
        fs.hash(p)
        fs.save()
    assert state.read_bytes() == snapshot and journal_path(state).exists()  # appended, not rewritten
    again = FileStateCache(state)
    assert [again.hash(p) for p in files[:4]] == [fs.hash(p) for p in files[:4]] and again.hashed == 0
    for p in files[4:]:
        fs.hash(p)
        fs.save()
    assert state.read_bytes() != snapshot  # the fifth entry compacted; the later two appended again
    again = FileStateCache(state)
    assert [again.hash(p) for p in files] == [fs.hash(p) for p in files] and again.hashed == 0


def test_a_torn_journal_keeps_what_came_before_it(tmp_path: Path):
    from dlmbuild.engine.filestate import journal_path

    state = tmp_path / "files.pkl"
    a, b = write_old(tmp_path / "a.txt", "a"), write_old(tmp_path / "b.txt", "b")
    fs = FileStateCache(state)
    fs.hash(a)
    fs.save()
    fs.hash(b)
    fs.save()
    with open(journal_path(state), "ab") as handle:
        handle.write(b"\x80\x05garbage")  # a crash in the middle of an append
    again = FileStateCache(state)
    again.hash(a), again.hash(b)
    assert again.hashed == 0
    again.hash(write_old(tmp_path / "c.txt", "c"))
    again.save()  # the torn journal is folded into a new snapshot
    assert not journal_path(state).exists()
    assert FileStateCache(state).hash(b) == fs.hash(b)
