"""``dlm serve DOC``: the document's current model behind an OpenAI-compatible API.

It builds what it serves first, through the engine (``:gguf-base``, ``:gguf-lora`` and, with the
gate on, ``:gate``: each a no-op when up to date), says so, then starts the llama.cpp worker and
the HTTP front. ``model: "<doc>"`` is routed by the gate; ``"<doc>:<adapter>"`` pins one adapter.
``dlm serve BUNDLE_DIR`` serves an exported llama-server bundle of a multi-adapter document the
same way, without the document.

Safety: it binds 127.0.0.1 unless ``--host`` says otherwise, and any other host needs an API key
(``--api-key`` or ``DLM_SERVE_API_KEY``, the latter kept out of the process list). SIGTERM and
Ctrl-C stop the front and the worker; a crashed worker ends the server with one line.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import sys
import threading
from pathlib import Path

import typer

from dlmbuild.errors import DlmError, EnvironmentProblem, UsageError

LOOPBACK = {"127.0.0.1", "::1", "localhost"}
KEY_ENV = "DLM_SERVE_API_KEY"


def serve(
    doc: Path = typer.Argument(..., help="The .dlm document, or an exported llama-server bundle folder."),
    port: int = typer.Option(8000, "--port", "-p", min=0, max=65535, help="TCP port (0: any free port)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; anything but loopback needs --api-key."),
    api_key: str = typer.Option(None, "--api-key", help=f"Require 'Authorization: Bearer KEY' (or set {KEY_ENV})."),
    threads: int = typer.Option(None, "--threads", "-t", min=1, max=256, help="llama.cpp threads (default: up to 4)."),
    ctx: int = typer.Option(None, "--ctx", min=128, max=131072, help="Context window in tokens (default: 2048 or sequence_len)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Do not log a line per request."),
) -> None:
    """Serve the trained model over HTTP (OpenAI-compatible: /v1/chat/completions, /v1/completions)."""
    from dlmbuild.gate.embed import threads as default_threads
    from dlmbuild.serve.engine_client import EngineClient
    from dlmbuild.serve.http import make_server
    from dlmbuild.serve.model_service import DocService

    key = api_key or os.environ.get(KEY_ENV) or None
    if host not in LOOPBACK and not key:
        raise UsageError(f"--host {host} would expose the model beyond this machine; pass --api-key KEY (or set {KEY_ENV})")
    check_port_free(host, port)
    spec = bundle_spec(doc, ctx) if doc.is_dir() else document_spec(doc, ctx)
    engine = EngineClient(spec.base_gguf, spec.loras, n_ctx=spec.n_ctx, n_threads=threads or default_threads(),
                          features=spec.features_gguf)
    log = (lambda line: None) if quiet else (lambda line: print(f"dlm serve: {line}", file=sys.stderr, flush=True))
    try:
        service = DocService(spec, engine)
        try:
            server = make_server(service, host, port, api_key=key, log=log)
        except OSError as exc:
            raise port_error(host, port, exc) from None
        bound = server.server_address[1]
        routed = "routed by the gate" if spec.gate_dir is not None else "every adapter at 1.0"
        print(f"dlm serve: http://{host}:{bound}/v1 ({spec.name}: {routed}; "
              f"models {', '.join(service.model_ids())}); Ctrl-C stops", file=sys.stderr, flush=True)
        run_until_stopped(server, engine)
    finally:
        engine.close()


def document_spec(doc: Path, ctx: int | None):
    """Build what serving needs and describe it."""
    from dlmbuild.cli.build import run_build
    from dlmbuild.infer.session import current_version
    from dlmbuild.project import Project
    from dlmbuild.rules.gate import enabled
    from dlmbuild.rules.gguf import model_name
    from dlmbuild.serve.spec import ServeSpec

    project = Project.open(doc)
    names = project.doc.config.training.adapter_names
    for name in names:
        current_version(project, name)  # serve what was trained: the first training is the user's call
    targets = [":gguf-base", ":gguf-lora"] + ([":gate"] if enabled(project) else [])
    print(f"dlm serve: building {', '.join(targets)} (what is out of date)", file=sys.stderr, flush=True)
    outputs: dict[str, Path] = {}
    code = run_build(doc, targets, collect=outputs)
    if code:
        raise DlmError("dlm serve: the build failed; nothing is served", exit_code=code)
    config = project.doc.config
    return ServeSpec(
        name=model_name(project), base_gguf=outputs[":gguf-base"] / "base.F16.gguf",
        loras={n: outputs[":gguf-lora"] / f"{n}.lora.gguf" for n in names}, tokenizer_dir=Path(project.base().path),
        system_prompt=config.system_prompt, temperature=config.export.default_temperature, top_p=config.export.default_top_p,
        n_ctx=ctx or max(2048, config.training.sequence_len), gate_dir=outputs.get(":gate"),
        routing=config.training.gate.routing())


def bundle_spec(folder: Path, ctx: int | None):
    import dataclasses

    from dlmbuild.serve.spec import ServeSpec

    spec = ServeSpec.from_bundle(folder.resolve())
    return dataclasses.replace(spec, n_ctx=ctx) if ctx else spec


def check_port_free(host: str, port: int) -> None:
    """Refuse a taken port before anything is built or loaded."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise port_error(host, port, exc) from None


def port_error(host: str, port: int, exc: OSError) -> DlmError:
    if exc.errno == errno.EADDRINUSE:
        return UsageError(f"port {port} on {host} is already in use; choose another with --port")
    return UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}")


class Stop(Exception):
    """SIGTERM or SIGINT arrived: leave ``serve_forever`` and clean up."""


def _stop(signum, frame) -> None:
    raise Stop(signum)


def run_until_stopped(server, engine) -> None:
    """Serve until Ctrl-C, SIGTERM or the worker's death; then close the listening socket.

    The signal handlers raise in the main thread, which is blocked in ``serve_forever``'s
    select; both signals are installed explicitly because a process started in the background
    by a non-interactive shell inherits SIGINT ignored. A dead worker is noticed by a watcher
    thread, which calls ``server.shutdown()`` (from another thread, as it must be)."""
    died = threading.Event()
    stop = threading.Event()

    def watch_worker() -> None:
        while engine.alive:
            if stop.wait(0.5):
                return
        died.set()
        server.shutdown()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    threading.Thread(target=watch_worker, daemon=True, name="dlm-serve-watch").start()
    try:
        server.serve_forever(poll_interval=0.25)
    except (Stop, KeyboardInterrupt):
        pass
    finally:
        stop.set()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.server_close()
    if died.is_set():
        from dlmbuild.export.native import signal_name

        raise EnvironmentProblem(f"the llama.cpp worker stopped ({signal_name(engine.child.returncode or 0)}); dlm serve ended")
    print("dlm serve: stopped", file=sys.stderr, flush=True)
