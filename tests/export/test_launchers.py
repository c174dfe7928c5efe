"""The bundles' launch.sh scripts, run for real under bash with fake runtimes on PATH: what
each one executes, the 127.0.0.1 default, the port from $1 / PORT, quoting of hostile names,
and the one-line failure when the runtime is missing."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from dlmbuild.export.launchers import mlx_server_script, vllm_config, vllm_script


# --- mlx-lm --------------------------------------------------------------------------------


def _executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def _bundle(tmp_path: Path, model_ref: str, **kwargs) -> Path:
    bundle = tmp_path / "bundle dir"
    (bundle / "adapters").mkdir(parents=True)
    _executable(bundle / "launch.sh", mlx_server_script(model_ref, **kwargs))
    return bundle


def _run(script: Path, *args: str, path: Path, **env: str) -> subprocess.CompletedProcess:
    environ = {"PATH": f"{path}:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp")} | env
    return subprocess.run(
        ["bash", str(script), *args], capture_output=True, text=True, env=environ, timeout=30
    )


def test_launch_script_text():
    text = mlx_server_script("org/model", default_port=9000)
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    assert "mlx_lm.server" in text and "--adapter-path" in text
    assert "127.0.0.1" in text and "0.0.0.0" not in text
    subprocess.run(["bash", "-n"], input=text, text=True, check=True)


def test_launch_runs_mlx_server_with_adapters(tmp_path):
    nasty = "/models/it's $(touch pwned) `x` \"q\""
    bundle = _bundle(tmp_path, nasty)
    fake = tmp_path / "bin"
    fake.mkdir()
    _executable(fake / "mlx_lm.server", '#!/bin/sh\nfor a in "$@"; do echo "$a"; done\n')
    adapters = str(bundle / "adapters")

    done = _run(bundle / "launch.sh", path=fake)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "--model", nasty, "--adapter-path", adapters, "--host", "127.0.0.1", "--port", "8080",
    ]
    assert not (tmp_path / "pwned").exists() and not (bundle / "pwned").exists()

    done = _run(bundle / "launch.sh", "9123", path=fake, HOST="0.0.0.0")
    assert done.stdout.splitlines()[-4:] == ["--host", "0.0.0.0", "--port", "9123"]
    done = _run(bundle / "launch.sh", path=fake, PORT="7000")
    assert done.stdout.splitlines()[-1] == "7000"


def test_launch_falls_back_to_python_module(tmp_path):
    bundle = _bundle(tmp_path, "org/model", default_port=8181)
    fake = tmp_path / "bin"
    fake.mkdir()
    _executable(fake / "python3", '#!/bin/sh\n[ "$1" = -c ] && exit 0\necho "$@"\n')
    done = _run(bundle / "launch.sh", path=fake)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("-m mlx_lm.server --model org/model --adapter-path ")
    assert done.stdout.rstrip().endswith("--host 127.0.0.1 --port 8181")


def test_launch_without_mlx_lm_exits_1(tmp_path):
    bundle = _bundle(tmp_path, "org/model")
    fake = tmp_path / "bin"
    fake.mkdir()
    _executable(fake / "python3", "#!/bin/sh\nexit 1\n")  # python3 that cannot import mlx_lm
    done = _run(bundle / "launch.sh", path=fake)
    assert done.returncode == 1
    assert "mlx-lm is not installed" in done.stderr and done.stdout == ""


@pytest.mark.parametrize(
    ("ref", "port"), [("", 8080), ("-x", 8080), ("org/m", 0), ("org/m", True), ("org/m", "80")]
)
def test_launch_script_refuses_bad_arguments(ref, port):
    with pytest.raises(ValueError):
        mlx_server_script(ref, default_port=port)


# --- vLLM ----------------------------------------------------------------------------------


def test_vllm_config_is_the_context_and_dtype():
    assert vllm_config(max_model_len=128, dtype="float16") == "max-model-len: 128\ndtype: float16\n"


def test_vllm_script_serves_the_bundle_model_with_its_config(tmp_path):
    bundle = tmp_path / "bundle dir"
    (bundle / "model").mkdir(parents=True)
    _executable(bundle / "launch.sh", vllm_script(served_name="my doc's $(x)"))
    fake = tmp_path / "bin"
    fake.mkdir()
    _executable(fake / "python3", '#!/bin/sh\n[ "$1" = -c ] && exit 0\nfor a in "$@"; do echo "$a"; done\n')
    done = _run(bundle / "launch.sh", "9001", path=fake)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "-m", "vllm.entrypoints.openai.api_server", "--config", f"{bundle}/config.yaml", "--model", f"{bundle}/model",
        "--served-model-name", "my doc's $(x)", "--host", "127.0.0.1", "--port", "9001",
    ]


def test_vllm_script_without_vllm_exits_1(tmp_path):
    bundle = tmp_path / "b"
    bundle.mkdir()
    _executable(bundle / "launch.sh", vllm_script(served_name="doc"))
    fake = tmp_path / "bin"
    fake.mkdir()
    _executable(fake / "python3", "#!/bin/sh\nexit 1\n")
    done = _run(bundle / "launch.sh", path=fake)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == "launch.sh: vLLM is not installed for python3: pip install vllm (or set PYTHON)\n"
