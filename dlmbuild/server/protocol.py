"""Frames between ``dlm build`` and the build server: a 4-byte big-endian length, then JSON.

Standard library only: the client side runs before anything heavy is imported.
"""

from __future__ import annotations

import json
import os
import socket
import struct
from pathlib import Path

MAX_FRAME = 64 << 20
# Variables that differ between two shells of one user without changing what a build does.
VOLATILE_ENV = frozenset({
    "_", "PWD", "OLDPWD", "SHLVL", "TERM", "COLUMNS", "LINES", "PS1", "PS2", "PROMPT_COMMAND",
    "SSH_TTY", "SSH_CONNECTION", "SSH_CLIENT", "TMUX_PANE", "WINDOWID", "TERM_SESSION_ID",
    "HISTFILE", "HISTSIZE", "LS_COLORS",
})


def send(sock: socket.socket, message: dict) -> None:
    """One frame: a 4-byte big-endian length, then the message as compact JSON."""
    data = json.dumps(message, separators=(",", ":")).encode("utf-8")
    sock.sendall(struct.pack(">I", len(data)) + data)


def recv(sock: socket.socket) -> dict | None:
    """The next frame, or None when the other side closed the connection."""
    head = _exactly(sock, 4)
    if head is None:
        return None
    (size,) = struct.unpack(">I", head)
    if size > MAX_FRAME:
        raise ConnectionError(f"frame of {size} bytes")
    body = _exactly(sock, size)
    if body is None:
        return None
    return json.loads(body)


def _exactly(sock: socket.socket, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def server_dir(home: Path) -> Path:
    return Path(home) / "server"


def info_path(home: Path) -> Path:
    return server_dir(home) / "server.json"


def socket_path(home: Path) -> str:
    """Under ``$DLM_HOME/server`` when the path fits in a socket address (about 100 bytes),
    else in the temp folder, named by the home it serves."""
    path = str(server_dir(home) / "dlm.sock")
    if len(path.encode()) < 100:
        return path
    import hashlib
    import tempfile

    digest = hashlib.blake2b(str(Path(home).resolve()).encode(), digest_size=8).hexdigest()
    return os.path.join(tempfile.gettempdir(), f"dlm-{os.getuid()}-{digest}.sock")


def comparable_env(env: dict[str, str]) -> dict[str, str]:
    """``env`` less the variables shells change on their own (``VOLATILE_ENV``): two clients
    whose environments compare equal here get the same build."""
    return {k: v for k, v in env.items() if k not in VOLATILE_ENV}
