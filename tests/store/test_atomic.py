"""Atomic writes: readers see the old version or the new one, never a half-written file or
folder, and no temp files are left behind on success or failure."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from dlmbuild.errors import EXIT_ENVIRONMENT, EnvironmentProblem
from dlmbuild.store import atomic
from dlmbuild.store.atomic import atomic_directory, atomic_write_bytes, atomic_write_text, current_umask, fsync_dir


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def failing_replace(err: int, on_call: int = 1):
    """An os.replace that fails with ``err`` on its ``on_call``-th call."""
    real = os.replace
    calls = {"n": 0}

    def fake(src, dst, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == on_call:
            raise OSError(err, os.strerror(err))
        return real(src, dst, *args, **kwargs)
    return fake


# --- files ----------------------------------------------------------------------------------


def test_write_creates_parents_and_content(tmp_path: Path):
    target = tmp_path / "a" / "b" / "f.bin"
    atomic_write_bytes(target, b"\x00\x01data")
    assert target.read_bytes() == b"\x00\x01data"
    assert names(target.parent) == ["f.bin"]


def test_write_replaces_content_and_leaves_no_temp(tmp_path: Path):
    target = tmp_path / "f.txt"
    target.write_text("old content that is longer")
    atomic_write_text(target, "new ✓")
    assert target.read_bytes() == "new ✓".encode("utf-8")
    assert names(tmp_path) == ["f.txt"]


def test_write_replaces_the_inode_not_the_bytes(tmp_path: Path):
    """A reader holding the old file open keeps reading the old version."""
    target = tmp_path / "f.txt"
    target.write_text("old")
    with open(target) as reader:
        atomic_write_text(target, "new")
        assert reader.read() == "old"
    assert target.read_text() == "new"


def test_write_keeps_the_existing_mode(tmp_path: Path):
    target = tmp_path / "script.sh"
    target.write_text("#!/bin/sh\n")
    os.chmod(target, 0o750)
    atomic_write_text(target, "#!/bin/sh\necho hi\n")
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o750


def test_write_sets_a_given_mode_on_new_and_replaced_files(tmp_path: Path):
    """``mode`` wins on new and replaced files; without it a new file gets 0o666 less the umask."""
    fresh, replaced = tmp_path / "new.bin", tmp_path / "old.bin"
    replaced.write_bytes(b"old")
    os.chmod(replaced, 0o600)
    atomic_write_bytes(fresh, b"x", mode=0o644)
    atomic_write_text(replaced, "y", mode=0o644)
    assert [stat.S_IMODE(os.stat(p).st_mode) for p in (fresh, replaced)] == [0o644, 0o644]
    atomic_write_bytes(tmp_path / "plain.bin", b"z")
    assert stat.S_IMODE(os.stat(tmp_path / "plain.bin").st_mode) == 0o666 & ~current_umask()


@pytest.mark.parametrize("err, reason", [(errno.EROFS, "read-only file system"), (errno.EACCES, "permission denied"),
                                         (errno.ENOSPC, "disk full")])
def test_failed_replace_is_an_environment_problem(tmp_path: Path, monkeypatch, err: int, reason: str):
    target = tmp_path / "f.txt"
    target.write_text("old")
    monkeypatch.setattr(atomic.os, "replace", failing_replace(err))
    with pytest.raises(EnvironmentProblem) as info:
        atomic_write_text(target, "new")
    assert str(info.value) == f"{target}: cannot write: {reason}"
    assert info.value.exit_code == EXIT_ENVIRONMENT
    assert target.read_text() == "old"
    assert names(tmp_path) == ["f.txt"]


def test_failed_temp_creation_is_an_environment_problem(tmp_path: Path, monkeypatch):
    def no_temp(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(atomic.tempfile, "mkstemp", no_temp)
    with pytest.raises(EnvironmentProblem, match=r"cannot write: read-only file system"):
        atomic_write_bytes(tmp_path / "f", b"x")
    assert names(tmp_path) == []


def test_interrupt_mid_write_leaves_old_content_and_no_temp(tmp_path: Path, monkeypatch):
    target = tmp_path / "f.txt"
    target.write_text("old")

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert names(tmp_path) == ["f.txt"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_directory(tmp_path: Path):
    folder = tmp_path / "ro"
    folder.mkdir()
    (folder / "f.txt").write_text("old")
    os.chmod(folder, 0o555)
    try:
        with pytest.raises(EnvironmentProblem) as info:
            atomic_write_text(folder / "f.txt", "new")
        assert "read-only" in str(info.value) or "permission denied" in str(info.value)
        assert (folder / "f.txt").read_text() == "old"
    finally:
        os.chmod(folder, 0o755)


# --- folders --------------------------------------------------------------------------------


def test_directory_created(tmp_path: Path):
    target = tmp_path / "sub" / "out"
    with atomic_directory(target) as tmp:
        assert tmp.parent == target.parent and tmp.name.startswith(".out.") and tmp.name.endswith(".tmp")
        (tmp / "a.txt").write_text("A")
        (tmp / "nested").mkdir()
        (tmp / "nested" / "b.txt").write_text("B")
        assert not target.exists()  # invisible until the block ends
    assert (target / "a.txt").read_text() == "A"
    assert (target / "nested" / "b.txt").read_text() == "B"
    assert names(target.parent) == ["out"]


def test_directory_replaced_whole(tmp_path: Path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "stale.txt").write_text("stale")
    with atomic_directory(target) as tmp:
        (tmp / "fresh.txt").write_text("fresh")
    assert names(target) == ["fresh.txt"]
    assert names(tmp_path) == ["out"]  # no temp, no .old folder


@pytest.mark.parametrize("exc", [RuntimeError("action failed"), KeyboardInterrupt()])
def test_directory_exception_keeps_the_old_folder(tmp_path: Path, exc: BaseException):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(type(exc)):
        with atomic_directory(target) as tmp:
            (tmp / "half.txt").write_text("half")
            raise exc
    assert names(target) == ["old.txt"]
    assert (target / "old.txt").read_text() == "old"
    assert names(tmp_path) == ["out"]


def test_directory_exception_without_an_old_folder_leaves_nothing(tmp_path: Path):
    with pytest.raises(RuntimeError):
        with atomic_directory(tmp_path / "out") as tmp:
            (tmp / "x").write_text("x")
            raise RuntimeError
    assert names(tmp_path) == []


def test_directory_failed_move_aside_is_an_environment_problem(tmp_path: Path, monkeypatch):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    monkeypatch.setattr(atomic.os, "replace", failing_replace(errno.EROFS, on_call=1))
    with pytest.raises(EnvironmentProblem, match=r"out: cannot write: read-only file system"):
        with atomic_directory(target) as tmp:
            (tmp / "new.txt").write_text("new")
    assert names(target) == ["old.txt"]
    assert names(tmp_path) == ["out"]


def test_directory_failed_swap_restores_the_old_folder(tmp_path: Path, monkeypatch):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    monkeypatch.setattr(atomic.os, "replace", failing_replace(errno.EIO, on_call=2))
    with pytest.raises(EnvironmentProblem):
        with atomic_directory(target) as tmp:
            (tmp / "new.txt").write_text("new")
    assert names(tmp_path) == ["out"]
    assert names(target) == ["old.txt"]


def test_directory_on_read_only_filesystem_is_an_environment_problem(tmp_path: Path, monkeypatch):
    def no_temp(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(atomic.tempfile, "mkdtemp", no_temp)
    with pytest.raises(EnvironmentProblem, match="read-only"):
        with atomic_directory(tmp_path / "out"):
            pass  # pragma: no cover


def test_fsync_dir_ignores_missing_folders(tmp_path: Path):
    fsync_dir(tmp_path / "missing")
    fsync_dir(tmp_path)


def test_a_new_file_gets_the_mode_open_would_give_it(tmp_path):
    import os

    from dlmbuild.store.atomic import atomic_write_bytes, current_umask

    mask = os.umask(0o027)
    try:
        assert current_umask() == 0o027
        atomic_write_bytes(tmp_path / "dlm.lock", b"x")
    finally:
        os.umask(mask)
    assert (tmp_path / "dlm.lock").stat().st_mode & 0o777 == 0o640
