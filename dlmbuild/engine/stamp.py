"""The no-op stamp: how ``dlm build`` answers "nothing changed" without parsing anything.

After a successful build, the paths the build depended on are recorded with their stat
signatures: the document, ``dlm.lock``, every source folder walked (a file added, removed or
renamed changes its folder's mtime), the rule files that could apply there, every selected
source file, the base's files, the adapters' ``current`` pointers and the installed packages'
folder; plus the action-cache entries that hold the outputs. The next ``dlm build`` with the
same targets and no options stats those paths first, importing only the standard library (Ninja
and git do the same with their logs and index). If every signature matches and every output is
still in the cache, the previous result lines are printed and the build is done; any difference
at all falls through to the real build, which is always correct. Signatures within the racy
window (modified less than ``RACY_NS`` before the stamp was written) never match, because a
later edit within the same timestamp tick could hide behind them.

The stamp lives at ``$DLM_HOME/stamps/<hash of the document path and targets>.pkl``, so finding
it needs no parsing either.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
import time
from pathlib import Path

FORMAT = 3
RACY_NS = 100_000_000


def signature(path: str) -> tuple[int, int, int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    # ctime too: `cp -p` of a same-size file keeps mtime and size, but not ctime
    return st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino, st.st_mode


def stamp_path(home: Path, doc: Path, targets: list[str]) -> Path:
    key = "\0".join([str(Path(doc).resolve()), *targets]).encode()
    return Path(home) / "stamps" / (hashlib.blake2b(key, digest_size=12).hexdigest() + ".pkl")


def environment() -> tuple:
    """What would change every key without touching a watched file: dlm's and Python's version
    and the package folder (pip install/uninstall changes its entries, hence its mtime)."""
    from dlmbuild import __version__

    folders = [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
    hub = tuple(os.environ.get(k, "") for k in ("HF_HOME", "HF_HUB_CACHE", "XDG_CACHE_HOME", "HOME"))
    return __version__, sys.version, tuple(signature(p) for p in folders), os.environ.get("DLM_HOME", ""), hub


def write_stamp(home: Path, doc: Path, targets: list[str], inputs: list[str], own: list[str], outputs: list[str],
                lines: list[str], started_ns: int, known: dict[str, tuple] | None = None) -> None:
    """``inputs`` are what users edit; ``own`` are files this build wrote itself (dlm.lock,
    adapter pointers, the replay corpus), recorded as they are. ``started_ns`` is when the build
    began reading its inputs: an input modified after that (less the racy window) may not be
    what the build read, so no stamp is written and the next build looks properly. ``known``
    holds signatures the build already took (the source walk's stats): the stat made before
    reading is the right one to record, since a later edit then fails the next check."""
    known = known or {}
    entries = [(p, known[p] if p in known else signature(p)) for p in dict.fromkeys(inputs)]
    if any(sig is not None and max(sig[0], sig[1]) >= started_ns - RACY_NS for _, sig in entries):
        return
    entries += [(p, signature(p)) for p in own]
    data = {"format": FORMAT, "env": environment(), "paths": [p for p, _ in entries], "sigs": [sig for _, sig in entries],
            "outputs": outputs, "lines": lines}
    from dlmbuild.store.atomic import atomic_write_bytes  # only writing needs it, not the no-op check

    atomic_write_bytes(stamp_path(home, doc, targets), pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL))


def check_stamp(home: Path, doc: Path, targets: list[str]) -> list[str] | None:
    """The previous build's result lines if nothing it depended on changed, else None."""
    try:
        data = pickle.loads(stamp_path(home, doc, targets).read_bytes())
    except Exception:  # absent, torn, or from another version: just build
        return None
    if data.get("format") != FORMAT or data["env"] != environment():
        return None
    paths, sigs = data["paths"], data["sigs"]
    if not paths or signature(paths[0]) != sigs[0]:  # the document comes first: an edit fails at once
        return None
    if [signature(path) for path in paths] != sigs:
        return None
    if not all(os.path.isdir(out) for out in data["outputs"]):
        return None
    return data["lines"]

