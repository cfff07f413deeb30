"""Length-prefixed JSON messages over a socket: the wire between a session and its sandboxed worker
(sandbox/), and between a session process and the clients attached to it (host/).

JSON only, never pickle: a receiver treats everything it gets as data (a worker running hostile code can
send anything), so nothing sent can become code or objects on the other side.
"""

from __future__ import annotations

import json
import socket
import struct
from typing import Any

MAX_MESSAGE = 64 * 1024 * 1024  # a message bigger than this is a broken or hostile peer
_HEADER = struct.Struct(">I")


class ChannelClosed(Exception):
    """The other side went away (the worker died, or the session closed the socket)."""


def _default(value: Any) -> str:
    return str(value)  # paths, numpy scalars, …: their text


# Bound once at import: code that later patches `json` in the same process doesn't change the wire format.
_dumps = json.JSONEncoder(default=_default, ensure_ascii=False).encode
_loads = json.JSONDecoder().decode


def encode(message: dict[str, Any]) -> bytes:
    data = _dumps(message).encode("utf-8", "surrogatepass")
    if len(data) > MAX_MESSAGE:
        raise ValueError(f"message of {len(data)} bytes is over the {MAX_MESSAGE} byte limit")
    return _HEADER.pack(len(data)) + data


def send(sock: socket.socket, message: dict[str, Any]) -> None:
    try:
        sock.sendall(encode(message))
    except OSError as exc:
        raise ChannelClosed(str(exc)) from exc


def _read_exact(sock: socket.socket, size: int) -> bytes:
    chunks, left = [], size
    while left:
        try:
            chunk = sock.recv(min(left, 1 << 20))
        except OSError as exc:
            raise ChannelClosed(str(exc)) from exc
        if not chunk:
            raise ChannelClosed("the other side closed the channel")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def recv(sock: socket.socket) -> dict[str, Any]:
    """The next message. Raises ChannelClosed on EOF, ValueError on a malformed or oversized message."""
    (size,) = _HEADER.unpack(_read_exact(sock, _HEADER.size))
    if size > MAX_MESSAGE:
        raise ValueError(f"peer sent a {size} byte message (limit {MAX_MESSAGE})")
    message = _loads(_read_exact(sock, size).decode("utf-8", "surrogatepass"))
    if not isinstance(message, dict) or not isinstance(message.get("op"), str):
        raise ValueError("peer sent a message without an op")
    return message
