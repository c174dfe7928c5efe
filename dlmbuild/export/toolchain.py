"""The pinned llama.cpp toolchain: install it once, check it at every use.

Exports break most often when llama.cpp renames a script or changes its GGUF layout under a
tool that fetched "the latest". dlm pins one artifact, the ``llama-cpp-python`` sdist named in
``vendor/llama-cpp.toml`` (version and sha256), and takes everything from it:

- the runtime, quantizer and ``llama_cpp.server``: the package built from that sdist;
- the converters ``convert_hf_to_gguf.py`` / ``convert_lora_to_gguf.py`` with their
  ``conversion/`` package and the ``gguf-py`` they were written against (the PyPI ``gguf`` lags
  behind them): unpacked from the same sdist into ``<env>/share/dlm/llama.cpp-<version>/``, with a
  manifest of each file's sha256.

``require()`` runs before any export: it checks the installed package version, the build flags
and the unpacked files against the pin and the manifest, and otherwise raises one line with the
fix. Nothing here imports llama_cpp or torch (``runtime_features`` asks a child process).

The build flags are part of the pin. They choose a fixed instruction-set baseline instead of
``-march=native``: the toolchain then does not depend on the CPU it was built on, and it never
compiles llama.cpp's AMX kernels, whose matrix multiply segfaults on Sapphire-Rapids-class CPUs
(llama.cpp issue 20824). ``install`` refuses a CPU below the baseline rather than build a library
that dies of SIGILL.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from dlmbuild.errors import EnvironmentProblem
from dlmbuild.store.exports import sha256_file
from dlmbuild.util.versions import installed_version

MANIFEST = "toolchain.json"
FIX = "run `bash scripts/setup.sh` or `python -m dlmbuild.export.toolchain install`"
# What dlm takes from the sdist's vendor/llama.cpp/ (files, or folders taken whole).
CONVERTER_PARTS = ("convert_hf_to_gguf.py", "convert_lora_to_gguf.py", "conversion", "gguf-py")


@dataclass(frozen=True)
class Pin:
    package: str
    version: str
    sdist: str
    sha256: str
    cmake_args: str
    cpu_baseline: tuple[str, ...] = ()  # /proc/cpuinfo flags an x86-64 CPU needs to run the build


@dataclass(frozen=True)
class Toolchain:
    """A checked toolchain: where the converters are, and what enters export keys."""

    pin: Pin
    converters: Path

    @property
    def convert_hf(self) -> Path:
        return self.converters / "convert_hf_to_gguf.py"

    @property
    def convert_lora(self) -> Path:
        return self.converters / "convert_lora_to_gguf.py"



@lru_cache(maxsize=1)
def pin() -> Pin:
    text = resources.files("dlmbuild.vendor").joinpath("llama-cpp.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    return Pin(**{k: data[k] for k in ("package", "version", "sdist", "sha256", "cmake_args")},
               cpu_baseline=tuple(data.get("cpu_baseline_x86_64", ())))


def pin_key() -> dict[str, str]:
    """What the pin contributes to export targets' keys (the build flags included: a toolchain
    built otherwise may write or run GGUFs differently)."""
    p = pin()
    return {"llama.cpp": f"{p.package}=={p.version}", "llama.cpp:sha256": p.sha256, "llama.cpp:cmake": p.cmake_args}


def converters_home(p: Pin | None = None) -> Path:
    """Where the converters live: beside the Python environment (``DLM_TOOLCHAIN`` overrides)."""
    p = p or pin()
    root = Path(os.environ.get("DLM_TOOLCHAIN") or Path(sys.prefix) / "share" / "dlm")
    return root / f"llama.cpp-{p.version}"


def problems(p: Pin | None = None, *, verify_files: bool = True) -> list[str]:
    """What is wrong with the installed toolchain ([] when it matches the pin)."""
    p = p or pin()
    found = []
    version = installed_version(p.package)
    if version is None:
        found.append(f"{p.package} is not installed")
    elif version != p.version:
        found.append(f"{p.package} {version} is installed but dlm is pinned to {p.version}")
    home = converters_home(p)
    manifest_path = home / MANIFEST
    if not manifest_path.is_file():
        found.append(f"llama.cpp converters are missing from {home}")
        return found
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    if manifest.get("cmake_args") != p.cmake_args:
        found.append(f"{p.package} was built with other flags than the pinned ones ({manifest.get('cmake_args') or 'unrecorded'})")
    elif manifest.get("sha256") != p.sha256:
        found.append(f"llama.cpp converters in {home} come from another artifact than the pinned {p.sdist}")
    elif verify_files:
        for rel, digest in manifest.get("files", {}).items():
            path = home / rel
            if not path.is_file() or sha256_file(path) != digest:
                found.append(f"llama.cpp converter file {path} was changed or removed")
                break
    return found


def require() -> Toolchain:
    """The checked toolchain, or ``EnvironmentProblem`` naming what is missing and the fix."""
    p = pin()
    found = problems(p)
    if found:
        raise EnvironmentProblem(f"llama.cpp toolchain not ready: {found[0]}; {FIX}")
    return Toolchain(p, converters_home(p))


def describe() -> str:
    """One line for ``dlm doctor``."""
    p = pin()
    found = problems(p, verify_files=False)
    return f"{p.package} {p.version} (sha256 {p.sha256[:12]}…): " + ("ok" if not found else found[0])


def runtime_features() -> dict[str, bool]:
    """The CPU features the installed llama.cpp was compiled with (``llama_print_system_info``),
    asked in a child process so that a broken library cannot crash the caller."""
    from dlmbuild.export.native import run_isolated

    return run_isolated("dlmbuild.export.toolchain:runtime_features_here", doing="reading its system info")


def runtime_features_here() -> dict[str, bool]:
    import llama_cpp

    info = llama_cpp.llama_print_system_info().decode("utf-8", errors="replace")
    features = {}
    for part in info.replace("|", "\n").splitlines():
        name, _, value = part.partition("=")
        if value.strip() in ("0", "1"):
            features[name.strip()] = value.strip() == "1"
    return features


def missing_cpu_features(p: Pin | None = None, cpu_flags: set[str] | None = None) -> list[str]:
    """The baseline's x86-64 features this CPU lacks ([] elsewhere, or when it has them all)."""
    from dlmbuild.export.cpu import cpu_flags as read_flags, is_x86_64

    p = p or pin()
    if cpu_flags is None:
        if not is_x86_64():
            return []
        cpu_flags = read_flags()
        if not cpu_flags:  # not Linux: nothing to read, let the build decide
            return []
    return [flag for flag in p.cpu_baseline if flag not in cpu_flags]


# -- installing -------------------------------------------------------------------------------

def install(log=print) -> None:
    """Fetch the pinned sdist, check its hash, build and install it, unpack the converters.

    Safe to run again: a toolchain that already matches the pin is left as it is.
    """
    p = pin()
    found = problems(p)
    if not found:
        log(f"llama.cpp toolchain {p.version} is installed")
        return
    missing = missing_cpu_features(p)
    if missing:
        raise EnvironmentProblem(f"this CPU lacks {', '.join(missing)}, which the pinned llama.cpp build needs "
                                 f"(baseline: {', '.join(p.cpu_baseline)}); export is not available on it")
    with tempfile.TemporaryDirectory(prefix="dlm-toolchain-") as tmp:
        sdist = _download(p, Path(tmp))
        fresh = installed_version(p.package) != p.version
        if fresh or not _built_with_pinned_flags(p):
            log(f"building {p.package} {p.version} from source with the pinned flags (a few minutes)...")
            if os.environ.get("CMAKE_ARGS"):
                log("note: CMAKE_ARGS from the environment is not used; the build flags are pinned in vendor/llama-cpp.toml")
            env = dict(os.environ, CMAKE_ARGS=p.cmake_args)
            env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2))
            # --no-cache-dir: pip caches a wheel built from an sdist under the sdist's name and
            # would reinstall one built with other flags. Same version, other flags: rebuild it.
            args = [f"{sdist}[server]"] if fresh else ["--force-reinstall", "--no-deps", str(sdist)]
            _pip(["install", "--disable-pip-version-check", "-q", "--no-cache-dir", *args], env=env)
        _unpack_converters(p, sdist)
    left = problems(p)
    if left:
        raise EnvironmentProblem(f"llama.cpp toolchain install did not take: {left[0]}")
    log(f"llama.cpp toolchain {p.version} installed; converters in {converters_home(p)}")


def _built_with_pinned_flags(p: Pin) -> bool:
    """Whether the installed package was built by ``install`` with today's pinned flags (the
    manifest written beside it records them)."""
    manifest_path = converters_home(p) / MANIFEST
    if not manifest_path.is_file():
        return False
    return json.loads(manifest_path.read_text(encoding="utf-8")).get("cmake_args") == p.cmake_args


def _download(p: Pin, folder: Path) -> Path:
    _pip(["download", "--disable-pip-version-check", "-q", "--no-deps", "--no-binary", ":all:",
          f"{p.package}=={p.version}", "-d", str(folder)])
    sdist = folder / p.sdist
    if not sdist.is_file():
        raise EnvironmentProblem(f"pip did not fetch {p.sdist}")
    digest = sha256_file(sdist)
    if digest != p.sha256:
        raise EnvironmentProblem(f"{p.sdist} has sha256 {digest}, not the pinned {p.sha256}: refusing to install it")
    return sdist


def _unpack_converters(p: Pin, sdist: Path) -> None:
    home = converters_home(p)
    home.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{home.name}-", dir=home.parent))
    try:
        prefix = f"{p.sdist.removesuffix('.tar.gz')}/vendor/llama.cpp/"
        files: dict[str, str] = {}
        with tarfile.open(sdist, "r:gz") as tar:
            for member in tar.getmembers():
                if not member.isfile() or not member.name.startswith(prefix):
                    continue
                rel = member.name[len(prefix):]
                if rel.split("/")[0] not in CONVERTER_PARTS or ".." in rel.split("/"):
                    continue
                target = staging / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                files[rel] = sha256_file(target)
        if "convert_hf_to_gguf.py" not in files:
            raise EnvironmentProblem(f"{p.sdist} holds no vendor/llama.cpp/convert_hf_to_gguf.py")
        manifest = {"package": p.package, "version": p.version, "sha256": p.sha256, "cmake_args": p.cmake_args,
                    "files": dict(sorted(files.items()))}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
        if home.exists():
            shutil.rmtree(home)
        staging.rename(home)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _pip(args: list[str], env: dict | None = None) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise EnvironmentProblem(f"pip {args[0]} failed: {tail[0]}")


def main(argv: list[str]) -> int:
    if argv[:1] == ["install"]:
        try:
            install()
        except EnvironmentProblem as exc:
            print(f"dlm: {exc}", file=sys.stderr)
            return 3
        return 0
    if argv[:1] == ["check"]:
        print(describe())
        return 0 if not problems() else 3
    print("usage: python -m dlmbuild.export.toolchain install|check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
