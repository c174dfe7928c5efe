"""Every bundle's ``launch.sh``: llama-server, vLLM and mlx-lm.

All bind 127.0.0.1 unless ``HOST`` says otherwise (a model that knows someone's notes should
not be on the network by accident), take the port as ``$1`` (or ``PORT``), and fail with one
line naming what to install when the runtime is missing. The scripts name no path of the machine
that exported them, so a bundle's bytes are the same everywhere and ``dlm verify`` can compare
them.
"""

from __future__ import annotations

import shlex

HEADER = """#!/usr/bin/env bash
# {title}
# Usage: ./launch.sh [PORT] [THREADS]   (HOST=0.0.0.0 to listen beyond this machine)
set -euo pipefail
HERE="$(cd "$(dirname "${{BASH_SOURCE[0]}}")" && pwd)"
HOST="${{HOST:-127.0.0.1}}"
PORT="${{1:-${{PORT:-{port}}}}}"
THREADS="${{2:-${{THREADS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 4)}}}}"
PY="${{PYTHON:-python3}}"
"""


def llama_server_script(gguf: str, *, ctx: int, temperature: float, top_p: float, port: int = 8080) -> str:
    """Runs ``llama-server`` when it is on PATH, else ``python -m llama_cpp.server``.

    llama-server gets the bundle's ``chat-template.jinja`` (``--jinja``); llama_cpp.server reads
    the same template from the GGUF's metadata. Both then render prompts as training did.
    """
    model = shlex.quote(gguf)
    return HEADER.format(title=f"Serve {gguf} with llama.cpp (OpenAI-compatible API on /v1).", port=port) + f"""MODEL="$HERE/"{model}
if command -v llama-server >/dev/null 2>&1; then
  exec llama-server -m "$MODEL" --host "$HOST" --port "$PORT" -t "$THREADS" -c {ctx} \\
    --jinja --chat-template-file "$HERE/chat-template.jinja" --temp {temperature:g} --top-p {top_p:g}
fi
if "$PY" -c "import llama_cpp.server" >/dev/null 2>&1; then
  exec "$PY" -m llama_cpp.server --model "$MODEL" --host "$HOST" --port "$PORT" --n_threads "$THREADS" --n_ctx {ctx}
fi
echo "launch.sh: install llama.cpp's llama-server, or llama-cpp-python[server] for $PY (or set PYTHON)" >&2
exit 1
"""


def routed_server_script(adapters: list[str], *, ctx: int, port: int = 8080) -> str:
    """Serves a routed bundle with ``dlm serve`` (the gate picks each request's adapters);
    without dlm, llama-server with every LoRA at scale 1 (their plain sum, unrouted), saying so.
    A non-loopback ``HOST`` needs ``DLM_SERVE_API_KEY``, which ``dlm serve`` reads itself."""
    loras = " ".join(f'--lora "$HERE/"{shlex.quote(name + ".lora.gguf")}' for name in adapters)
    return HEADER.format(title="Serve this document's adapters, routed by its gate (OpenAI-compatible API on /v1).", port=port) + f"""if "$PY" -c "import dlmbuild" >/dev/null 2>&1; then
  exec "$PY" -m dlmbuild serve "$HERE" --host "$HOST" --port "$PORT" --threads "$THREADS"
fi
if command -v llama-server >/dev/null 2>&1; then
  echo "launch.sh: dlm is not installed for $PY, so requests are not routed: every adapter is applied at scale 1" >&2
  exec llama-server -m "$HERE/base.F16.gguf" {loras} --host "$HOST" --port "$PORT" -t "$THREADS" -c {ctx} \\
    --jinja --chat-template-file "$HERE/chat-template.jinja"
fi
echo "launch.sh: install dlm (routed serving) or llama.cpp's llama-server for $PY (or set PYTHON)" >&2
exit 1
"""


def vllm_script(*, served_name: str, port: int = 8000) -> str:
    """``vllm serve`` on the bundle's merged model folder with its ``config.yaml``."""
    name = shlex.quote(served_name)
    return HEADER.format(title=f"Serve {served_name} with vLLM (OpenAI-compatible API on /v1).", port=port) + f"""if ! "$PY" -c "import vllm" >/dev/null 2>&1; then
  echo "launch.sh: vLLM is not installed for $PY: pip install vllm (or set PYTHON)" >&2
  exit 1
fi
exec "$PY" -m vllm.entrypoints.openai.api_server --config "$HERE/config.yaml" --model "$HERE/model" \\
  --served-model-name {name} --host "$HOST" --port "$PORT"
"""


def vllm_config(*, max_model_len: int, dtype: str) -> str:
    """``config.yaml`` for ``--config``: the document's sequence_len is the context vLLM serves."""
    return f"max-model-len: {max_model_len}\ndtype: {dtype}\n"


MLX_TEMPLATE = """\
#!/usr/bin/env bash
# Serve the base model with the LoRA adapters in ./adapters through mlx-lm's
# OpenAI-compatible HTTP server (Apple silicon only).
#
# Usage: ./launch.sh [PORT]
#   PORT  listening port (first argument, else $PORT, else {port})
#   HOST  address to bind (environment, default 127.0.0.1: this machine only)
set -euo pipefail

here="$(cd "$(dirname "${{BASH_SOURCE[0]}}")" && pwd)"
model={model}
host="${{HOST:-127.0.0.1}}"
port="${{1:-${{PORT:-{port}}}}}"

if command -v mlx_lm.server >/dev/null 2>&1; then
  server=(mlx_lm.server)
elif python3 -c "import mlx_lm" >/dev/null 2>&1; then
  server=(python3 -m mlx_lm.server)
else
  echo "launch.sh: mlx-lm is not installed (python3 cannot import mlx_lm);" \\
    "install it on an Apple silicon Mac with: python3 -m pip install mlx-lm" >&2
  exit 1
fi

exec "${{server[@]}}" --model "$model" --adapter-path "$here/adapters" \\
  --host "$host" --port "$port"
"""


def mlx_server_script(model_ref: str, *, default_port: int = 8080) -> str:
    """``mlx_lm.server`` (or ``python3 -m mlx_lm.server``) serving ``model_ref`` (an HF id or a
    path) with the adapters in the ``adapters/`` folder next to the script.

    mlx-lm loads the base itself, so the bundle ships only the adapter. ``ValueError`` guards the
    caller's contract (a ``model_ref`` the shell would read as an option, a bad port); a
    document cannot produce such values (registry ids and ``hf:`` ids are checked on parse)."""
    if not isinstance(model_ref, str) or not model_ref.strip():
        raise ValueError("model_ref must be a non-empty Hugging Face id or path")
    if model_ref.startswith("-"):
        raise ValueError(f"model_ref {model_ref!r} starts with '-'; write it as ./{model_ref}")
    if "\0" in model_ref:
        raise ValueError("model_ref contains a NUL byte")
    if (
        isinstance(default_port, bool)
        or not isinstance(default_port, int)
        or not 1 <= default_port <= 65535
    ):
        raise ValueError(f"default_port must be a TCP port (1-65535), got {default_port!r}")
    return MLX_TEMPLATE.format(model=shlex.quote(model_ref), port=default_port)
