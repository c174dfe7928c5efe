"""The one stat signature: whether a file (or folder) is still the one a process looked at.

Every place that trusts a stat instead of reading content uses this tuple: the file-state cache
(a content hash reused while the signature holds), the no-op stamp (a build skipped while every
input's signature holds), the build state and the tokenize index held in memory by a resident
process, and the walk's remembered folder listings. One layout means a stat taken once (by the
source walk) serves all of them.

    (mtime_ns, ctime_ns, size, inode, device)

Why each field:
  - ``mtime_ns`` and ``size``: what an ordinary write changes.
  - ``ctime_ns``: what no user-space call can set. ``cp -p``, ``rsync -t``, ``tar x`` and
    ``touch -d`` restore an old mtime on new content of the same size; they still move ctime.
    The price is a re-hash after a ``chmod`` or a new hard link, both rare and both cheap.
  - ``inode`` and ``device``: an atomic replace (write a temp file, rename it over) is a new
    inode even when every time and the size happen to match; the device tells apart two mounts
    whose inode numbers coincide.
The mode is left out: changing it moves ctime already.

A signature taken within ``RACY_NS`` of a write to the file cannot vouch for it ("racily
clean", in git's words): the kernel stamps times from a coarse clock that can lag by a few
milliseconds, so a second write in the same tick leaves every field as it was. ``racy`` says
when a signature is that young; callers then do not remember it. It looks at the mtime only:
any later write sets the mtime to the present, which differs from an mtime already out of the
window, and a later ``utime`` that puts the old mtime back still moves the ctime, which the
signature holds. (The no-op stamp is stricter and also waits out a young ctime, see
``engine/stamp.py``: it skips a whole build, so it takes no chance at all.)
"""

from __future__ import annotations

import os
import time

# How recent a file's mtime or ctime may be before its signature is trusted to stand for it.
RACY_NS = 100_000_000

Signature = tuple[int, int, int, int, int]


def signature_of(st: os.stat_result) -> Signature:
    """The signature of a stat already taken (a walk's ``os.stat``, a scandir entry's stat)."""
    return st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino, st.st_dev


def signature(path: str | os.PathLike[str]) -> Signature | None:
    """The signature of ``path`` now (following symlinks), or None when it cannot be stat'd."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino, st.st_dev


def racy(sig: Signature, now_ns: int | None = None) -> bool:
    """Whether ``sig`` is too young to be remembered: its mtime lies within ``RACY_NS`` of
    ``now_ns`` (default: now), so a write still to come could leave it unchanged."""
    now = time.time_ns() if now_ns is None else now_ns
    return now - sig[0] <= RACY_NS
