"""The pinned llama.cpp toolchain: install it once, check it at every use.

Exports break most often when llama.cpp renames a script or changes its GGUF layout under a
tool that fetched "the latest". dlm pins one artifact, the ``llama-cpp-python`` sdist named in
``vendor/llama-cpp.toml`` (version and sha256), and takes everything from it:

- the runtime, quantizer and ``llama_cpp.server``: the package built from that sdist;
- the converters ``convert_hf_to_gguf.py`` / ``convert_lora_to_gguf.py`` with their
  ``conversion/`` package and the ``gguf-py`` they were written against (the PyPI ``gguf`` lags
  behind them): unpacked from the same sdist into ``<env>/share/dlm/llama.cpp-<version>/``, with a
  manifest of each file's sha256.

``require()`` runs before any export: it checks the installed package version and the unpacked
files against the pin and the manifest, and otherwise raises one line with the fix. Nothing here
imports llama_cpp or torch.
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
from importlib import metadata, resources
from pathlib import Path

from dlmbuild.errors import EnvironmentProblem
from dlmbuild.store.exports import sha256_file

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
    return Pin(**{k: data[k] for k in ("package", "version", "sdist", "sha256", "cmake_args")})


def pin_key() -> dict[str, str]:
    """What the pin contributes to export targets' keys."""
    p = pin()
    return {"llama.cpp": f"{p.package}=={p.version}", "llama.cpp:sha256": p.sha256}


def converters_home(p: Pin | None = None) -> Path:
    """Where the converters live: beside the Python environment (``DLM_TOOLCHAIN`` overrides)."""
    p = p or pin()
    root = Path(os.environ.get("DLM_TOOLCHAIN") or Path(sys.prefix) / "share" / "dlm")
    return root / f"llama.cpp-{p.version}"


def installed_version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


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
    if manifest.get("sha256") != p.sha256:
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


# -- installing -------------------------------------------------------------------------------

def install(log=print) -> None:
    """Fetch the pinned sdist, check its hash, build and install it, unpack the converters.

    Safe to run again: a toolchain that already matches the pin is left as it is.
    """
    p = pin()
    if not problems(p):
        log(f"llama.cpp toolchain {p.version} is installed")
        return
    with tempfile.TemporaryDirectory(prefix="dlm-toolchain-") as tmp:
        sdist = _download(p, Path(tmp))
        if installed_version(p.package) != p.version:
            log(f"building {p.package} {p.version} from source (a few minutes)...")
            env = dict(os.environ, CMAKE_ARGS=(os.environ.get("CMAKE_ARGS", "") + " " + p.cmake_args).strip())
            env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2))
            _pip(["install", "--disable-pip-version-check", "-q", f"{sdist}[server]"], env=env)
        _unpack_converters(p, sdist)
    left = problems(p)
    if left:
        raise EnvironmentProblem(f"llama.cpp toolchain install did not take: {left[0]}")
    log(f"llama.cpp toolchain {p.version} installed; converters in {converters_home(p)}")


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
        manifest = {"package": p.package, "version": p.version, "sha256": p.sha256, "files": dict(sorted(files.items()))}
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
