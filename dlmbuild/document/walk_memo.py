"""Source-folder walks remembered by a resident process and kept true by inotify.

A build of a document whose ``training.sources`` cover 10,000 files must know, each time, which
files are selected and their stat signatures. A fresh process stats every one of them (about
half of an edited build's time in a resident process). A resident process (``dlm server``)
instead remembers each directive's walk and watches the folders it walked
(``util/inotify.py``): when nothing happened there since the last build, the remembered walk is
the answer; when only selected files' contents changed, those files alone are stat'd again; any
other change (an entry created, removed or renamed; a ``.dlm`` rule file edited; a folder moved;
a too-large file edited; the event queue overflowing) drops the remembered walk and the next
build walks the folder again the ordinary way. So a remembered walk never decides anything a walk
would not: it only skips stats whose answer inotify guarantees.

A walk is trusted only if every folder it visited was already watched when it began (so any
change after it looked is queued), which means a newly seen folder costs one more ordinary walk.
Files inotify cannot vouch for (reached through a symlink, or with other hard links) are stat'd
on every build. Trees on network filesystems are never remembered (inotify sees only this
machine's changes there).

Nothing in a short-lived ``dlm build`` process uses this: ``enable()`` is called by the server.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dlmbuild.util import memo

if TYPE_CHECKING:
    from dlmbuild.document.sources import SourceFile, SourceSet
    from dlmbuild.util.inotify import Event

# util.inotify (and ctypes) is imported only by a process that enables this: a short-lived
# `dlm build` never does.


@dataclass
class _Walk:
    """One directive's remembered walk and what inotify has said about it since."""

    part: SourceSet
    index: dict[str, int]  # selected file's path -> its position in part.files
    restat: list[int]  # files stat'd on every build (symlinked, or with other hard links)
    sensitive: set[str]  # paths not selected whose content still matters (files over the size limit)
    folders: set[str]  # the folders it walked
    trusted: bool
    dirty: set[str] = field(default_factory=set)  # selected files whose content or metadata changed


class WalkMemo:
    def __init__(self) -> None:
        from dlmbuild.util.inotify import FolderWatch

        self.watch = FolderWatch()
        self.walks: dict[Hashable, _Walk] = {}
        # A build's targets ask for their inputs from worker threads, and cached_property has
        # no lock from Python 3.12 on: one walk at a time.
        self._lock = threading.Lock()

    def walk(self, key: Hashable, run: Callable[[], SourceSet], restat: Callable[[SourceFile], SourceFile | None]) -> SourceSet:
        """The walk ``run`` would make now: remembered, patched by ``restat`` for files whose
        content changed, or made afresh by ``run``."""
        with self._lock:
            return self._walk(key, run, restat)

    def _walk(self, key: Hashable, run: Callable[[], SourceSet], restat: Callable[[SourceFile], SourceFile | None]) -> SourceSet:
        self._drain()
        held = self.walks.get(key)
        if held is not None and held.trusted and self._refresh(held, restat):
            return held.part
        from dlmbuild.util.inotify import network_filesystem

        watched_before = self.watch.folders()
        part = run()
        folders = set(part.dirs)
        # one local filesystem: a mount inside the tree could be a network one
        local = (bool(part.dirs) and len({file.device for file in part.files}) <= 1
                 and not network_filesystem(part.dirs[0]))
        watching = local and all(self.watch.add(folder) for folder in part.dirs)
        self.walks[key] = _Walk(
            part=part,
            index={file.abspath: i for i, file in enumerate(part.files)},
            restat=[i for i, file in enumerate(part.files) if file.linked or file.nlink > 1],
            sensitive=set(part.folders) - folders,
            folders=folders,
            trusted=watching and folders <= watched_before,
        )
        return part

    def _refresh(self, held: _Walk, restat: Callable[[SourceFile], SourceFile | None]) -> bool:
        """Stat again the files that changed (and those stat'd every build); False when one of
        them is no longer selected as it was, so the folder must be walked again."""
        positions = [held.index[path] for path in held.dirty] + held.restat
        held.dirty.clear()
        files = held.part.files
        for i in positions:
            now = restat(files[i])
            if now is None or now.abspath != files[i].abspath:
                held.trusted = False
                return False
            files[i] = now
        return True

    def _drain(self) -> None:
        for event in self.watch.drain():
            if event.folder is None:  # the queue overflowed: anything may have changed
                for held in self.walks.values():
                    held.trusted = False
                continue
            for held in self.walks.values():
                if held.trusted and event.folder in held.folders:
                    _apply(held, event)


def _apply(held: _Walk, event: Event) -> None:
    from dlmbuild.util.inotify import CONTENT, IN_ISDIR

    path = os.path.join(event.folder, event.name) if event.name else event.folder
    content_only = not event.mask & ~CONTENT
    if not event.name or event.mask & IN_ISDIR or os.path.basename(event.folder) == ".dlm":
        held.trusted = False  # the folder itself, a subfolder, or the ignore/training.yaml rules
    elif path in held.index:
        if content_only:
            held.dirty.add(path)
        else:
            held.trusted = False  # a selected file removed, renamed or replaced
    elif not content_only or path in held.sensitive:
        held.trusted = False  # an entry added, removed or renamed, or a too-large file edited
    # else: the content of a file the walk did not select (ignored by name, or by rules that
    # read names only) changed, which selects nothing new


_ACTIVE: WalkMemo | None = None


def _forget() -> None:
    """Drop every remembered walk (the next build walks afresh); remembering stays enabled."""
    if _ACTIVE is not None:
        with _ACTIVE._lock:
            _ACTIVE.walks.clear()


memo.register("document.walks", _forget)


def enable() -> bool:
    """Remember walks in this process from now on (the build server calls this once); False
    where inotify is unavailable, and walks then stay ordinary."""
    global _ACTIVE
    if _ACTIVE is None:
        try:
            _ACTIVE = WalkMemo()
        except OSError:
            return False
    return True


def disable() -> None:
    """Stop remembering walks and close the inotify watch (tests; the server never does)."""
    global _ACTIVE
    if _ACTIVE is not None:
        _ACTIVE.watch.close()
        _ACTIVE = None


def active() -> WalkMemo | None:
    """The process's walk memo, or None when walks are not remembered (a plain ``dlm build``)."""
    return _ACTIVE
