"""Attaching to a session process: its events stream into a local EventBus, controls go back over the socket.

`SessionClient` has the same face as an in-process Supervisor (session_id, last_seq, status, running,
pause, resume, redirect, interrupt, decide, cancel_job, job_pids, record_gpu_sample, wait, abandon), so the
TUI works the same either way. Several clients may attach to one session; killing one loses nothing and
stops nothing.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
from pathlib import Path
from typing import Any

from .. import wire
from ..bus import EventBus
from ..errors import InternError
from ..events import Event, Kind
from . import live_host

REPLY_TIMEOUT = 30.0


class SessionClient:
    def __init__(self, home: Path, session_id: str):
        info = live_host(home, session_id)
        if info is None:
            raise InternError(
                f"session {session_id} is not running in a session process",
                hint=f"see intern-tui sessions list; a stopped session continues with: intern-tui resume {session_id}",
            )
        self.session_id = session_id
        self.bus = EventBus()
        self.status = "running"
        self.last_seq = 0
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._sock.connect(info["socket"])
        except OSError as exc:
            self._sock.close()
            raise InternError(
                f"cannot attach to session {session_id}: {exc}", hint="is it still running?"
            ) from exc
        self._send_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._replies: dict[int, dict[str, Any]] = {}
        self._reply_ready = threading.Condition()
        self._ended = threading.Event()
        self._reader = threading.Thread(target=self._read, name=f"attach-{session_id}", daemon=True)
        self._reader.start()
        described = self.describe()
        self.status = described["status"]
        self.step = described["step"]

    # -- events ------------------------------------------------------------------------------------------

    def stream(self, after_seq: int = 0) -> None:
        """Start receiving the session's events with seq > after_seq (history first, then live)."""
        self._send({"op": "hello", "after_seq": after_seq})

    def _read(self) -> None:
        try:
            while True:
                message = wire.recv(self._sock)
                op = message["op"]
                if op == "events":
                    for seq, ts, kind, step, payload_json in message["rows"]:
                        event = Event(
                            self.session_id, seq, ts, kind, step, json.loads(payload_json), payload_json
                        )
                        self._track(event)
                        self.bus.publish(event)
                elif op == "reply":
                    with self._reply_ready:
                        self._replies[message.get("id")] = message
                        self._reply_ready.notify_all()
                elif op == "ended":
                    self.status = message.get("status") or self.status
                    return
        except (wire.ChannelClosed, ValueError, OSError):
            pass
        finally:
            self._ended.set()
            with self._reply_ready:
                self._reply_ready.notify_all()

    def _track(self, event: Event) -> None:
        """Follow the session's status from its events (what the Supervisor's `status` says in-process)."""
        self.last_seq = event.seq
        p, kind = event.payload, event.kind
        if kind == Kind.PAUSED:
            self.status = "paused" if p.get("phase") == "paused" else "pausing"
        elif kind == Kind.RESUMED:
            self.status = "running"
        elif kind == Kind.SESSION_ENDED:
            self.status = p.get("status") or "done"
        elif kind == Kind.STEP_STARTED:
            self.step = event.step or self.step

    # -- controls ----------------------------------------------------------------------------------------

    def _send(self, message: dict[str, Any]) -> None:
        with self._send_lock:
            try:
                wire.send(self._sock, message)
            except wire.ChannelClosed as exc:
                raise InternError(f"session {self.session_id} is no longer reachable ({exc})") from exc

    def _call(self, op: str, **fields: Any) -> Any:
        request_id = next(self._ids)
        self._send({"op": op, "id": request_id, **fields})
        with self._reply_ready:
            ok = self._reply_ready.wait_for(
                lambda: request_id in self._replies or self._ended.is_set(), timeout=REPLY_TIMEOUT
            )
            reply = self._replies.pop(request_id, None)
        if reply is None:
            reason = "it ended" if self._ended.is_set() else "no answer" if not ok else "no reply"
            raise InternError(f"session {self.session_id} did not answer {op!r} ({reason})")
        if not reply.get("ok"):
            raise InternError(f"session {self.session_id} refused {op!r}: {reply.get('error')}")
        return reply.get("result")

    def describe(self) -> dict[str, Any]:
        return self._call("status")

    def pause(self) -> None:
        self._call("pause")

    def resume(self) -> None:
        self._call("resume")

    def redirect(self, text: str) -> None:
        self._call("redirect", text=text)

    def interrupt(self, reason: str = "interrupted by the user") -> None:
        self._call("interrupt", reason=reason)

    def stop(self, reason: str = "stopped by the user") -> None:
        self._call("stop", reason=reason)

    def decide(
        self, request_id: str, decision: str, reason: str | None = None, edited: dict[str, Any] | None = None
    ) -> bool:
        return bool(
            self._call("decide", request_id=request_id, decision=decision, reason=reason, edited=edited)
        )

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        return self._call("cancel_job", job_id=job_id)

    def rename(self, title: str) -> str:
        return self._call("rename", title=title)

    def job_pids(self) -> dict[int, str]:
        """The session process attributes GPU processes to its jobs itself: nothing to attribute here."""
        return {}

    def record_gpu_sample(self, snapshot: dict[str, Any]) -> None:
        """The session process samples the GPU; a client records nothing."""

    def abandon(self, reason: str) -> bool:
        """Only the session process can end its session; the client just detaches (see close)."""
        return False

    # -- lifecycle ---------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return not self._ended.is_set() and self.status not in ("done", "failed", "interrupted", "max_steps")

    def wait(self, timeout: float | None = None) -> bool:
        """Until the session ends (or this client loses it)."""
        return self._ended.wait(timeout)

    def close(self) -> None:
        """Detach: the session goes on."""
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
