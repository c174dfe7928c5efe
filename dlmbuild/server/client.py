"""``dlm build`` as a client of a running build server (standard library only).

``forward`` returns the build's exit code when a server ran it, or None when there is no server
for this ``$DLM_HOME`` or it declined (busy, another Python or environment, stale code): the
caller then builds in its own process, so a server can only make a build faster, never
different. Ctrl-C is passed on: the server stops the build as it would on its own Ctrl-C.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

from dlmbuild.server import protocol

# How long a server may take to say it will run this build; a busy one leaves it to us.
ACCEPT_TIMEOUT_S = 1.0


def interpreter() -> list[str]:
    """The Python and environment a build runs in: ``python`` and ``python3`` of one venv are
    the same interpreter, the same binary in another venv is not."""
    return [os.path.realpath(sys.executable), sys.prefix, sys.version]


def forward(argv: list[str], home: Path) -> int | None:
    if not hasattr(socket, "AF_UNIX") or not protocol.info_path(home).is_file():
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(ACCEPT_TIMEOUT_S)
        sock.connect(protocol.socket_path(home))
        protocol.send(sock, {
            "argv": argv, "cwd": os.getcwd(), "env": dict(os.environ), "python": interpreter(),
            "tty": [sys.stdout.isatty(), sys.stderr.isatty()],
        })
        reply = protocol.recv(sock)
        if not reply or not reply.get("accept"):
            return None
        protocol.send(sock, {"go": True})
        sock.settimeout(None)
    except (OSError, ValueError):
        sock.close()
        return None
    try:
        return _relay(sock)
    finally:
        sock.close()


def _relay(sock: socket.socket) -> int:
    cancelled = False
    while True:
        try:
            frame = protocol.recv(sock)
        except KeyboardInterrupt:
            if cancelled:  # a second Ctrl-C: stop waiting; the server still cleans up
                print("dlm: interrupted", file=sys.stderr)
                return 130
            cancelled = True
            try:
                protocol.send(sock, {"cancel": True})
            except OSError:
                return 130
            continue
        except OSError:
            frame = None
        if frame is None:
            print("dlm: the build server closed the connection before the build finished (see dlm server status)",
                  file=sys.stderr)
            return 1
        if "exit" in frame:
            return int(frame["exit"])
        stream = sys.stdout if frame.get("fd") == 1 else sys.stderr
        stream.write(frame.get("data", ""))
        stream.flush()


def request(home: Path, message: dict, timeout: float = 5.0) -> dict | None:
    """One control message (status, stop) and its reply; None when no server answers."""
    if not hasattr(socket, "AF_UNIX"):
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(protocol.socket_path(home))
        protocol.send(sock, message)
        return protocol.recv(sock)
    except (OSError, ValueError):
        return None
    finally:
        sock.close()
