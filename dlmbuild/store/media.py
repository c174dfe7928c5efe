"""Media files, content-addressed: ``<root>/<hh>/<hash><suffix>``. The root is the ``media/``
folder of an ``:examples-<name>`` output (rules/train_media.py), so the copies live in the
document's store, inside the action cache entry that the adapter's key depends on.

Training reads images and clips from here, not from the paths the document names, so a file
edited or deleted during a build cannot change what a finished target trained on, and a key
(which holds the content hash) always names the bytes it was computed from. A copy is written
under a temporary name, checked against the hash the build keyed on, and renamed into place;
a file that changed since it was hashed is refused rather than stored under the wrong name.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


class MediaChanged(Exception):
    """The file's bytes are not the ones the build hashed (edited mid-build)."""


class MediaStore:
    def __init__(self, root: Path):
        self.root = root

    def path(self, digest: str, suffix: str = "") -> Path:
        return self.root / digest[:2] / f"{digest}{suffix.lower()}"

    def put(self, source: Path, digest: str, hash_file) -> Path:
        """The stored copy of ``source`` (whose content hash is ``digest``), copied if absent."""
        target = self.path(digest, source.suffix)
        if target.is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{digest[:12]}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        try:
            shutil.copyfile(source, tmp)
            if hash_file(Path(tmp)) != digest:
                raise MediaChanged(f"{source.name} changed while the build read it; build again")
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return target
