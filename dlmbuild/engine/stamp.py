"""The no-op stamp: how ``dlm build`` answers "nothing changed" without parsing anything.

After a successful build, the paths the build depended on are recorded with their stat
signatures (``util/filesig.py``): the document, ``dlm.lock``, every source folder walked (a file
added, removed or renamed changes its folder's mtime), the rule files that could apply there,
every selected source file, the base's files, the adapters' ``current`` pointers and the
installed packages' folder; plus the action-cache entries that hold the outputs. The next
``dlm build`` with the same targets and no options stats those paths first, importing only the
standard library (Ninja and git do the same with their logs and index). If every signature
matches and every output is still in the cache, the previous result lines are printed and the
build is done; any difference at all falls through to the real build, which is always correct.
No stamp is written while an input is within the racy window (modified less than ``RACY_NS``
before the build began), because a later edit within the same timestamp tick could hide
behind its signature.

The stamp lives at ``$DLM_HOME/stamps/<hash of the document path and targets>.stamp``, so finding
it needs no parsing either.
"""

from __future__ import annotations

import marshal
import os
import sys
from operator import itemgetter
from pathlib import Path

from dlmbuild.util.filesig import RACY_NS, signature

try:  # the same function without importing OpenSSL through hashlib (4 ms of a no-op build)
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - an interpreter built without it
    from hashlib import blake2b

# marshal, not pickle: built in (nothing to import), and faster both ways for these plain lists
# and tuples; its bytes are specific to one Python version, which ``environment()`` pins anyway.
FORMAT = 5


def stamp_path(home: Path, doc: Path, targets: list[str]) -> Path:
    """Where the stamp of this document and target list lives: found by hashing, not parsing."""
    key = "\0".join([str(Path(doc).resolve()), *targets]).encode()
    return Path(home) / "stamps" / (blake2b(key, digest_size=12).hexdigest() + ".stamp")


def environment() -> tuple:
    """What would change every key without touching a watched file: dlm's and Python's version,
    the package folder (pip install/uninstall changes its entries, hence its mtime) and what
    decides the machine class."""
    from dlmbuild import __version__

    folders = [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
    hub = tuple(os.environ.get(k, "") for k in ("HF_HOME", "HF_HUB_CACHE", "XDG_CACHE_HOME", "HOME"))
    # what may change the machine class without a file changing: the host (a DLM_HOME on a
    # shared disk) and the variables that choose a GPU or its determinism
    machine = (os.uname().nodename, *(os.environ.get(k, "") for k in ("CUDA_VISIBLE_DEVICES", "CUBLAS_WORKSPACE_CONFIG")))
    return __version__, sys.version, tuple(signature(p) for p in folders), os.environ.get("DLM_HOME", ""), hub, machine


def write_stamp(home: Path, doc: Path, targets: list[str], inputs: list[str], own: list[str], outputs: list[str],
                lines: list[str], started_ns: int, known: dict[str, tuple] | None = None) -> None:
    """``inputs`` are what users edit, the document first; ``own`` are files this build wrote
    itself (dlm.lock, adapter pointers, the replay corpus), recorded as they are. ``started_ns``
    is when the build began reading its inputs: an input modified after that (less the racy
    window) may not be what the build read, so no stamp is written and the next build looks
    properly. ``known`` maps more input paths (the selected source files) to the signatures the
    build already took: the stat made before reading is the right one to record, since a later
    edit then fails the next check."""
    known = known or {}
    paths = [p for p in dict.fromkeys(inputs) if p not in known]
    sigs = [signature(p) for p in paths]
    paths += known
    sigs += known.values()
    present = [sig for sig in sigs if sig is not None]
    # the newest mtime and ctime, taken at C speed over 10,000 signatures
    if present and max(max(map(itemgetter(0), present)), max(map(itemgetter(1), present))) >= started_ns - RACY_NS:
        return
    paths += own
    sigs += [signature(p) for p in own]
    data = {"format": FORMAT, "env": environment(), "paths": paths, "sigs": sigs, "outputs": outputs, "lines": lines}
    from dlmbuild.store.atomic import atomic_write_bytes  # only writing needs it, not the no-op check

    atomic_write_bytes(stamp_path(home, doc, targets), marshal.dumps(data), durable=False)


def check_stamp(home: Path, doc: Path, targets: list[str]) -> list[str] | None:
    """The previous build's result lines if nothing it depended on changed, else None."""
    try:
        data = marshal.loads(stamp_path(home, doc, targets).read_bytes())
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

