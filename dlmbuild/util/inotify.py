"""Linux inotify, read without a thread: what changed in a set of watched folders since the last look.

A resident build process (``dlm server``) keeps the result of walking a 10,000-file source tree
and asks this module, at the start of each build, what changed since. The kernel queues an
inotify event inside the very system call that changes a watched folder's entry (write,
truncate, chmod, create, rename, unlink), so once that call has returned its event is already
in the queue: reading the queue until it is empty (non-blocking) sees every change made before
the build began. That is why no helper thread, no debounce and no cookie file is needed here
(watchman and watchfiles run a thread and must sync with it through cookie files).

What inotify cannot see is the caller's business: files changed through a hard link outside the
watched folders, where a symlink points, writes through a shared mmap, and changes made by other
machines on network filesystems (``network_filesystem`` tells those apart).

ctypes on libc rather than a package: three system calls, and the well-kept wrappers
(inotify_simple, watchdog) are either threaded or just as thin.
"""

from __future__ import annotations

import ctypes
import os
import struct
import sys
from functools import lru_cache
from typing import NamedTuple

IN_MODIFY = 0x00000002
IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_UNMOUNT = 0x00002000
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_DONT_FOLLOW = 0x02000000
IN_ISDIR = 0x40000000

# Changes to an entry's content or metadata that leave the folder's list of names as it was.
CONTENT = IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE
# The watched folder itself went away or moved: paths under it no longer mean what they did.
GONE = IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT | IN_IGNORED
_MASK = CONTENT | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW
_HEADER = struct.Struct("iIII")  # wd, mask, cookie, name length

# statfs f_type of filesystems whose files other machines change without this kernel knowing.
_NETWORK_MAGIC = frozenset({
    0x6969,  # NFS
    0x517B, 0xFF534D42, 0xFE534D42,  # SMB, CIFS, SMB2
    0x65735546,  # FUSE (sshfs, rclone, gcsfuse, ...)
    0x00C36400,  # Ceph
    0x01021997,  # 9p (WSL and VM shared folders)
    0x5346414F,  # AFS
    0x73757245,  # Coda
    0x0BD00BD0,  # Lustre
    0x01161970,  # GFS2
})


class Event(NamedTuple):
    folder: str | None  # the watched folder, None for a queue overflow
    name: str  # the entry within it ('' for an event on the folder itself)
    mask: int


class FolderWatch:
    """One inotify instance watching folders (not their subfolders: add each one)."""

    def __init__(self) -> None:
        if not sys.platform.startswith("linux"):
            raise OSError("inotify is Linux-only")
        self._libc = _libc()
        fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        self.fd = fd
        self._folder_of: dict[int, str] = {}
        self._wd_of: dict[str, int] = {}

    def add(self, folder: str) -> bool:
        """Watch ``folder``; False when it cannot be (gone, not a folder, out of watches)."""
        if folder in self._wd_of:
            return True
        wd = self._libc.inotify_add_watch(self.fd, os.fsencode(folder), _MASK)
        if wd < 0:
            return False
        old = self._folder_of.get(wd)  # the same folder under another name (a link, a move)
        if old is not None:
            self._wd_of.pop(old, None)
        self._folder_of[wd] = folder
        self._wd_of[folder] = wd
        return True

    def folders(self) -> frozenset[str]:
        """The folders watched now."""
        return frozenset(self._wd_of)

    def drain(self) -> list[Event]:
        """Every event queued since the last call. A folder that went away (``GONE``) is no
        longer watched afterwards; add it again once it exists again."""
        events: list[Event] = []
        while True:
            try:
                data = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return events
            offset = 0
            while offset < len(data):
                wd, mask, _cookie, length = _HEADER.unpack_from(data, offset)
                start = offset + _HEADER.size
                name = os.fsdecode(data[start : start + length].split(b"\0", 1)[0])
                offset = start + length
                folder = self._folder_of.get(wd)
                events.append(Event(folder, name, mask))
                if mask & GONE and folder is not None:
                    self._forget(wd, folder, remove=not mask & IN_IGNORED)

    def _forget(self, wd: int, folder: str, remove: bool) -> None:
        del self._folder_of[wd]
        if self._wd_of.get(folder) == wd:
            del self._wd_of[folder]
        if remove:
            self._libc.inotify_rm_watch(self.fd, wd)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def network_filesystem(path: str) -> bool:
    """Whether ``path`` lies on a filesystem that other machines may change (NFS, SMB, FUSE,
    9p, ...): there inotify reports only this machine's own changes."""
    buf = ctypes.create_string_buffer(512)  # struct statfs is 120 bytes on x86-64; f_type is first
    if _libc().statfs(os.fsencode(path), buf) != 0:
        return True  # unknown: do not trust a watch there
    return (ctypes.c_long.from_buffer(buf).value & 0xFFFFFFFF) in _NETWORK_MAGIC


@lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)
