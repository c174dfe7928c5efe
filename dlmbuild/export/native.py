"""Calls into llama.cpp run in a child process, so a native crash cannot take ``dlm build`` down.

llama.cpp is C++: a bad kernel (its AMX matrix multiply on Sapphire-Rapids-class CPUs, llama.cpp
issue 20824), a malformed file or an illegal instruction kills the process with a signal, and
no ``try`` catches that. Every call dlm makes into it (quantize, the smoke test, system info)
goes through ``run_isolated``: a fresh ``python -m dlmbuild.export.native`` imports the named
function, runs it with JSON arguments and writes a JSON result to a file. The parent turns the
outcome into one of:

- the function's return value;
- the ``DlmError`` it raised, re-raised here with its class and message;
- ``NativeCrash`` when the child died of a signal: one line naming the signal and what was
  being done, the child's log printed only with ``DLM_DEBUG=1``.

A fresh interpreter (not ``fork``) because the parent may hold torch's thread pools, which do
not survive a fork. The child imports nothing heavy: the cost is interpreter start-up plus
``import llama_cpp`` (see benchmarks/native_isolation.py).

``DLM_NATIVE_FAULT=<text>`` makes a child whose call contains ``<text>`` die of a real SIGSEGV
before it runs, so tests can exercise the crash path without a crashing CPU.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from dlmbuild import errors
from dlmbuild.errors import DlmError, EnvironmentProblem

FAULT_ENV = "DLM_NATIVE_FAULT"
LOG_TAIL_LINES = 60


class NativeCrash(EnvironmentProblem):
    """llama.cpp (or another native library) killed its process with a signal."""

    exit_code = errors.EXIT_BUILD_FAILED


def signal_name(returncode: int) -> str:
    """``SIGSEGV`` for a child that returned -11; ``exit N`` for a plain non-zero exit."""
    if returncode >= 0:
        return f"exit {returncode}"
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


def crash_message(returncode: int, doing: str, consequence: str = "") -> str:
    """The one line a crash becomes: what died, of what, while doing what, and what survived."""
    line = f"llama.cpp crashed ({signal_name(returncode)}) while {doing}"
    if consequence:
        line += f"; {consequence}"
    return line + " (DLM_DEBUG=1 shows its log)"


def show_log_when_debugging(log: str) -> None:
    """With ``DLM_DEBUG=1`` print the tail of a native child's log to stderr."""
    if os.environ.get("DLM_DEBUG") and log.strip():
        tail = log.rstrip().splitlines()[-LOG_TAIL_LINES:]
        print("\n".join(["--- llama.cpp log (last lines) ---", *tail, "---"]), file=sys.stderr, flush=True)


def run_isolated(call: str, kwargs: dict[str, Any] | None = None, *, doing: str, consequence: str = "",
                 timeout: float | None = None, cancel: threading.Event | None = None) -> Any:
    """Run ``module:function(**kwargs)`` in a fresh interpreter and return its JSON result.

    ``doing`` completes "llama.cpp crashed (SIGSEGV) while ..."; ``consequence`` says what the
    caller keeps intact. ``cancel`` (set from another thread) kills the child and raises
    ``KeyboardInterrupt``, as the engine's actions do when a build is cancelled.
    """
    with tempfile.TemporaryDirectory(prefix="dlm-native-") as tmp:
        result_path = Path(tmp) / "result.json"
        log_path = Path(tmp) / "child.log"
        request = json.dumps({"call": call, "kwargs": kwargs or {}, "result": str(result_path)})
        with open(log_path, "w+b") as log:
            child = subprocess.Popen([sys.executable, "-m", "dlmbuild.export.native"], stdin=subprocess.PIPE,
                                     stdout=log, stderr=log, env=_child_env())
            child.stdin.write(request.encode("utf-8"))
            child.stdin.close()
            returncode = _wait(child, timeout, cancel, doing)
        log_text = log_path.read_text(encoding="utf-8", errors="replace")
        if returncode < 0:
            show_log_when_debugging(log_text)
            raise NativeCrash(crash_message(returncode, doing, consequence))
        if not result_path.is_file():
            show_log_when_debugging(log_text)
            last = next((line.strip() for line in reversed(log_text.splitlines()) if line.strip()), "no output")
            raise EnvironmentProblem(f"llama.cpp child failed ({signal_name(returncode)}) while {doing}: {last}")
        outcome = json.loads(result_path.read_text(encoding="utf-8"))
    if "error" in outcome:
        cls = getattr(errors, outcome.get("kind", ""), None)
        if not (isinstance(cls, type) and issubclass(cls, DlmError)):
            cls = EnvironmentProblem
        raise cls(outcome["error"])
    return outcome["value"]


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    # The child must import this checkout's dlmbuild even when the parent was started from a
    # folder that put it on sys.path by hand (tests, benchmarks).
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    return env


def _wait(child: subprocess.Popen, timeout: float | None, cancel: threading.Event | None, doing: str) -> int:
    waited = 0.0
    step = 0.05
    while True:
        try:
            return child.wait(timeout=step)
        except subprocess.TimeoutExpired:
            waited += step
            step = min(step * 2, 0.5)
        if cancel is not None and cancel.is_set():
            _kill(child)
            raise KeyboardInterrupt
        if timeout is not None and waited >= timeout:
            _kill(child)
            raise EnvironmentProblem(f"llama.cpp did not finish within {timeout:.0f} s while {doing}")


def _kill(child: subprocess.Popen) -> None:
    child.kill()
    child.wait()


# -- the child --------------------------------------------------------------------------------

def _child_main() -> int:
    import faulthandler

    faulthandler.enable()  # a crash writes the Python stack to the log, then dies of its signal
    request = json.loads(sys.stdin.read())
    call = request["call"]
    fault = os.environ.get(FAULT_ENV)
    if fault and fault in call:
        faulthandler._sigsegv()
    module_name, _, function_name = call.partition(":")
    try:
        function = getattr(importlib.import_module(module_name), function_name)
        outcome = {"value": function(**request["kwargs"])}
    except DlmError as exc:
        outcome = {"error": str(exc), "kind": type(exc).__name__}
    except Exception as exc:  # a library failure: one line for the parent, not a traceback
        message = " ".join(str(exc).split())
        outcome = {"error": f"{type(exc).__name__}: {message}", "kind": "EnvironmentProblem"}
    result = Path(request["result"])
    staging = result.with_suffix(".tmp")
    staging.write_text(json.dumps(outcome), encoding="utf-8")
    staging.replace(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(_child_main())
