"""dlmbuild.util.filesig: the one stat signature and the racy window."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from dlmbuild.util.filesig import RACY_NS, racy, signature, signature_of


def test_racy_window_is_100ms():
    assert RACY_NS == 100_000_000


def test_layout_is_mtime_ctime_size_inode_device(tmp_path: Path):
    p = tmp_path / "a.txt"
    p.write_text("four")
    st = os.stat(p)
    assert signature(p) == signature_of(st) == (st.st_mtime_ns, st.st_ctime_ns, 4, st.st_ino, st.st_dev)
    assert signature(tmp_path / "absent") is None


def test_an_mtime_put_back_still_changes_the_signature(tmp_path: Path):
    """``cp -p`` and ``touch -d`` restore an old mtime on new same-size content; the ctime they
    cannot restore is why the signature holds it."""
    p = tmp_path / "a.txt"
    p.write_text("aaaa")
    old = time.time_ns() - 3_600_000_000_000
    os.utime(p, ns=(old, old))
    before = signature(p)
    time.sleep(0.02)
    p.write_text("bbbb")
    os.utime(p, ns=(old, old))
    after = signature(p)
    assert (after[0], after[2], after[3]) == (before[0], before[2], before[3])
    assert after != before


def test_an_atomic_replace_changes_the_signature(tmp_path: Path):
    p = tmp_path / "a.txt"
    p.write_text("aaaa")
    before = signature(p)
    shutil.copy2(p, tmp_path / "b.txt")
    os.replace(tmp_path / "b.txt", p)
    assert signature(p)[3] != before[3]


def test_racy_means_a_young_mtime():
    now = time.time_ns()
    assert racy((now, now, 1, 1, 1), now)
    assert racy((now - RACY_NS, now, 1, 1, 1), now)
    assert not racy((now - RACY_NS - 1, now, 1, 1, 1), now)
