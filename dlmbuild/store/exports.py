"""Where finished exports are installed, and the manifest of what each one holds.

A bundle is built into the action cache like any output; publishing installs it where users
look (``<store>/exports/<kind>/``, or ``--out DIR``) whole or not at all: it is assembled in a
temporary sibling and renamed into place, so a crash, a full disk or Ctrl-C leaves the previous
export untouched and no partial folder behind. ``exports/manifest.json`` lists each installed
export's key, folder, and every file's sha256 (the hash ``sha256sum`` and runtimes' users check).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from filelock import FileLock

from dlmbuild.store.atomic import atomic_directory, atomic_write_text

MANIFEST = "manifest.json"
STAMP = ".dlm-export.json"  # inside an installed bundle: which key it holds


def sha256_file(path: Path) -> str:
    """sha256 of a file, streamed: the hash ``sha256sum`` prints, which users of runtimes check."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def installed_key(dest: Path) -> str | None:
    """The action key of the bundle installed at ``dest`` (from its stamp), or None: decides
    whether a publish must reinstall."""
    try:
        return json.loads((Path(dest) / STAMP).read_text(encoding="utf-8"))["key"]
    except (OSError, ValueError, KeyError):
        return None


def publish_export(exports_root: Path, kind: str, key: str, out_dir: Path, dest: Path | None = None) -> Path:
    """Install the bundle ``out_dir`` (a committed output) as export ``kind``; returns its folder."""
    dest = Path(dest) if dest else Path(exports_root) / kind
    if installed_key(dest) != key:
        with atomic_directory(dest) as tmp:
            _copy_tree(Path(out_dir), tmp)
            (tmp / STAMP).write_text(json.dumps({"key": key, "kind": kind}) + "\n", encoding="utf-8")
    files = {}
    for path in sorted(Path(out_dir).rglob("*")):
        if path.is_file():
            files[path.relative_to(out_dir).as_posix()] = sha256_file(path)
    manifest_path = Path(exports_root) / MANIFEST
    # bundles are cheap targets and publish from parallel workers: serialize the read-modify-write
    with FileLock(str(manifest_path) + ".lock"):
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            manifest = {}
        manifest[kind] = {"key": key, "path": str(dest.resolve()), "files": files}
        atomic_write_text(manifest_path, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return dest


def _copy_tree(src: Path, dst: Path) -> None:
    for path in sorted(src.rglob("*")):
        target = dst / path.relative_to(src)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif path.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)  # a copy: users may edit a bundle; the cache must not change
            if os.access(path, os.X_OK):
                target.chmod(0o755)
