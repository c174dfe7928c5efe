"""The base's weights in a pack (``dlm pack --include-base``) and their install on unpacking.

Packing: only a base whose licence the registry knows to allow passing the weights on
(``registry.redistributable``) goes in; a local folder or an ``hf:`` id carries no licence dlm
can read, so it never does. The pack then holds the base as it resolved here, under ``base/``:
every regular file at the top of its folder (an HF cache snapshot's symlinks are followed to
their blobs), which is what the resolver and transformers read: config, tokenizer files, chat
template, ``*.safetensors``. Left out: hidden files, the embedded base's own record
(``dlm-base.json``, which describes a conversion on another machine) and weights in formats dlm
does not train from (``*.bin``, ``*.gguf``, …), which can be as large as the base again.

Unpacking: where the base does not resolve here, the packed files are checked against the
lock's fingerprints (the manifest's sha256 says the pack arrived whole; this says it holds the
base the lock names, not some other one) and installed with a record of that identity where the
resolver looks for them (``bases.resolve.packed_dir``), through a temporary folder renamed into
place. Where the base resolves here already, nothing is installed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from dlmbuild.bases import fingerprint as fp
from dlmbuild.bases.embedded import MANIFEST as EMBEDDED_RECORD
from dlmbuild.bases.embedded import bases_root
from dlmbuild.bases.registry import REGISTRY, is_path_reference, redistributable
from dlmbuild.bases.resolve import PACKED_FORMAT, PACKED_RECORD, packed_dir, read_packed_record
from dlmbuild.errors import EnvironmentProblem
from dlmbuild.store.atomic import atomic_directory, atomic_write_text

BASE = "base"
# Weight formats dlm does not train from (it reads *.safetensors): left out of a pack.
OTHER_WEIGHTS = (".bin", ".pt", ".pth", ".ckpt", ".gguf", ".onnx", ".h5", ".msgpack", ".ot")
FINGERPRINTS = ("weights", "tokenizer", "chat_template")
LOCK_TIMEOUT_S = 1800.0


def licence_refusal(base_model: str) -> str | None:
    """Why ``--include-base`` cannot pack ``base_model``'s weights, or None when it can."""
    if redistributable(base_model):
        return None
    how = "pack without --include-base: the pack then names the base and `dlm unpack` resolves it locally"
    row = REGISTRY.get(base_model)
    if row is not None:
        return f"--include-base: base {base_model} is under the {row.license} licence, which dlm does not know to allow redistribution; {how}"
    kind = "a local folder" if is_path_reference(base_model) else "an hf: id" if base_model.startswith("hf:") else "not a registry key"
    return f"--include-base: base {base_model} is {kind}, which carries no licence dlm can read; {how}"


def base_files(folder: Path) -> dict[str, Path]:
    """The base's files as ``base/<name>`` -> the regular file holding them (symlinks followed)."""
    members = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.name == EMBEDDED_RECORD or path.suffix.lower() in OTHER_WEIGHTS:
            continue
        real = path.resolve()
        if real.is_file():
            members[f"{BASE}/{path.name}"] = real
    return members


def fingerprint_problem(folder: Path, locked: dict) -> str | None:
    """How the base files in ``folder`` differ from the lock's fingerprints of its base, or None."""
    got = {"weights": fp.weights_hash(folder), "tokenizer": fp.tokenizer_hash(folder),
           "chat_template": fp.chat_template_hash(fp.chat_template_text(folder))}
    for name in FINGERPRINTS:
        if got[name] != locked.get(name):
            return f"the packed base's {name} hash is {got[name][:16]} but the pack's dlm.lock records {str(locked.get(name))[:16]}"
    if not fp.weight_files(folder):
        return "the packed base has no *.safetensors weights"
    return None


def install_base(folder: Path, locked: dict, home: Path) -> Path:
    """Move the checked base files in ``folder`` to where the resolver finds them; the target.
    Another process installing the same base meanwhile is waited for (a lock beside the
    embedded base's), and a whole install already there is kept."""
    from filelock import FileLock, Timeout

    target = packed_dir(home, locked)
    root = bases_root(home)
    try:
        root.mkdir(parents=True, exist_ok=True)
        with FileLock(str(root / ".lock"), timeout=LOCK_TIMEOUT_S):
            if read_packed_record(target) is not None and fingerprint_problem(target, locked) is None:
                return target
            with atomic_directory(target) as tmp:
                for path in sorted(folder.iterdir()):
                    shutil.move(str(path), str(tmp / path.name))
                record = {"format": PACKED_FORMAT, "source": str(locked.get("source", "")),
                          **{name: str(locked.get(name, "")) for name in ("key", "revision", *FINGERPRINTS)}}
                atomic_write_text(tmp / PACKED_RECORD, _json(record))
    except Timeout:
        raise EnvironmentProblem(f"timed out after {int(LOCK_TIMEOUT_S)} s waiting for {root / '.lock'}: another dlm process is preparing a base") from None
    except OSError as exc:
        raise EnvironmentProblem(f"cannot install the packed base into {target}: {exc.strerror or exc}") from None
    return target


def _json(record: dict) -> str:
    import json

    return json.dumps(record, indent=2, sort_keys=True) + "\n"
