"""The session process: one session's agent, jobs, GPU sampler and store writer, serving attached clients.

It runs detached from any terminal (its own process session; SIGHUP ignored), so closing the TUI or losing
ssh changes nothing for the agent. Clients (the TUI, `sessions list`, the overview) connect over a Unix
socket that only its owner can open (a 0700 directory, a 0600 socket, and the peer's uid checked on every
connection). On the socket, length-prefixed JSON (wire.py):

    client → host   {"op": "hello", "after_seq": N}            stream events with seq > N, then live
                    {"op": "pause" | "resume" | "interrupt" | "stop" | "redirect" | "decide" | "rename" |
                      "cancel_job" | "status", "id": k, …}     control; each answered by a reply
    host → client   {"op": "events", "rows": [[seq, ts, kind, step, payload_json], …]}
                    {"op": "reply", "id": k, "ok": true | false, "result" | "error": …}
                    {"op": "ended", "status": …}               the session is over; the host exits

Every control is a call on the Supervisor (or the session's JobManager) in this process, so the rules are
the same as in-process: two clients deciding the same approval record exactly one decision.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import struct
import threading
import time
from pathlib import Path
from typing import Any

from .. import wire
from ..store.queries import iter_events

log = logging.getLogger(__name__)
BATCH = 2000  # events per message on the wire


class SessionHost:
    def __init__(self, runtime, supervisor, socket_path: Path):
        self.runtime = runtime
        self.sup = supervisor
        self.session_id = supervisor.session_id
        self.socket_path = Path(socket_path)
        self.ended = threading.Event()
        self._server: socket.socket | None = None
        self._clients: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._count = 0

    # -- lifecycle -------------------------------------------------------------------------------------

    def listen(self) -> None:
        self.socket_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.socket_path.unlink(missing_ok=True)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)  # the socket is created 0600: only its owner may connect
        try:
            server.bind(str(self.socket_path))
        finally:
            os.umask(old)
        server.listen(16)
        self._server = server
        threading.Thread(target=self._accept, name="host-accept", daemon=True).start()

    def finish(self, linger: float = 1.0) -> None:
        """The session ended: tell every client, give them a moment to read the last events, close."""
        self.ended.set()
        deadline = time.monotonic() + linger
        while time.monotonic() < deadline:
            with self._lock:
                if not self._clients:
                    break
            time.sleep(0.05)
        if self._server is not None:
            self._server.close()
        self.socket_path.unlink(missing_ok=True)
        with self._lock:
            clients = list(self._clients)
        for conn in clients:
            _close(conn)

    # -- connections -----------------------------------------------------------------------------------

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return  # closed by finish()
            if not _same_user(conn):
                log.warning("refused a connection from another user")
                _close(conn)
                continue
            with self._lock:
                self._clients.add(conn)
                self._count += 1
                n = self._count
            threading.Thread(target=self._serve, args=(conn, n), name=f"host-client-{n}", daemon=True).start()

    def _serve(self, conn: socket.socket, n: int) -> None:
        send_lock = threading.Lock()

        def send(message: dict[str, Any]) -> None:
            with send_lock:
                wire.send(conn, message)

        try:
            while True:
                message = wire.recv(conn)
                if message["op"] == "hello":
                    after = int(message.get("after_seq") or 0)
                    threading.Thread(
                        target=self._stream, args=(conn, send, after, n), name=f"host-stream-{n}", daemon=True
                    ).start()
                    continue
                send(self._control(message))
        except (wire.ChannelClosed, ValueError, OSError):
            pass  # the client went away (closed, crashed, kill -9): nothing of the session depends on it
        finally:
            with self._lock:
                self._clients.discard(conn)
            _close(conn)

    def _stream(self, conn: socket.socket, send, after_seq: int, n: int) -> None:
        """History from the store, then live events from the bus, in seq order with no gap or repeat."""
        sub = self.runtime.bus.subscribe(f"client-{n}", accept=lambda e: e.session_id == self.session_id)
        try:
            self.runtime.writer.flush()  # everything published before the subscription is now in the store
            last = after_seq
            db = self.runtime.store.connect()
            try:
                rows: list[list[Any]] = []
                for event in iter_events(db, self.session_id, after_seq=after_seq):
                    rows.append(_row(event))
                    if len(rows) >= BATCH:
                        send({"op": "events", "rows": rows})
                        last, rows = rows[-1][0], []
                if rows:
                    send({"op": "events", "rows": rows})
                    last = rows[-1][0]
            finally:
                db.close()
            while True:
                sub.wait(0.25)
                fresh = [_row(e) for e in sub.drain() if e.seq > last]
                for start in range(0, len(fresh), BATCH):
                    send({"op": "events", "rows": fresh[start : start + BATCH]})
                if fresh:
                    last = fresh[-1][0]
                if self.ended.is_set() and not len(sub):
                    send({"op": "ended", "status": self.sup.status})
                    return
        except (wire.ChannelClosed, OSError):
            return
        finally:
            sub.close()

    # -- control -----------------------------------------------------------------------------------------

    def _control(self, message: dict[str, Any]) -> dict[str, Any]:
        op, request_id = message.get("op"), message.get("id")
        try:
            result = self._do(op, message)
        except Exception as exc:  # a refused control is an answer, not the end of the connection
            from ..errors import InternError, ToolError

            if not isinstance(exc, InternError | ToolError | ValueError | KeyError):
                log.exception("control %s failed", op)
            return {"op": "reply", "id": request_id, "ok": False, "error": str(exc)}
        return {"op": "reply", "id": request_id, "ok": True, "result": result}

    def _do(self, op: str | None, m: dict[str, Any]) -> Any:
        sup = self.sup
        if op == "status":
            return sup.describe()
        if op == "pause":
            sup.pause()
        elif op == "resume":
            sup.resume()
        elif op == "redirect":
            sup.redirect(str(m.get("text") or ""))
        elif op in ("interrupt", "stop"):
            sup.interrupt(str(m.get("reason") or "interrupted by the user"))
        elif op == "decide":
            edited = m.get("edited")
            if edited is not None and not isinstance(edited, dict):
                raise ValueError("edited arguments must be a JSON object")
            return sup.decide(str(m.get("request_id")), str(m.get("decision")), m.get("reason"), edited)
        elif op == "cancel_job":
            return sup.cancel_job(str(m.get("job_id")))
        elif op == "rename":
            return sup.rename(str(m.get("title") or ""))
        else:
            raise ValueError(f"unknown control {op!r}")
        return True


def _row(event) -> list[Any]:
    return [event.seq, event.ts, event.kind, event.step, event.payload_json]


def _same_user(conn: socket.socket) -> bool:
    """SO_PEERCRED: the connecting process runs as our uid (the socket's mode already says so; this holds
    even if the file mode were loosened)."""
    try:
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except OSError:
        return False
    _, uid, _ = struct.unpack("3i", creds)
    return uid == os.getuid()


def _close(conn: socket.socket) -> None:
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    conn.close()


def write_host_file(path: Path, socket_path: Path) -> None:
    """run/<id>.host.json: where clients find this session's socket (written once the socket listens)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"pid": os.getpid(), "socket": str(socket_path), "started_at": time.time()}))
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
