"""The single writer thread: drains the bus and commits events in batches.

Whatever is queued when the writer wakes is committed in one transaction (WAL, synchronous=NORMAL: a
committed batch survives a killed process). The writer wakes at least every 100 ms and as soon as an
event arrives, so under light load every event is committed almost at once, and under heavy load batches
grow to amortise the commit. A failed commit keeps the batch and retries; nothing is dropped.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Sequence

from ..bus import EventBus
from ..events import Event
from .db import write_transaction
from .projection import insert_events

log = logging.getLogger(__name__)

FLUSH_INTERVAL = 0.1
MAX_BATCH = 20_000
TRANSIENT = (
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_FULL",
    "SQLITE_IOERR",
    "SQLITE_CANTOPEN",
    "SQLITE_PROTOCOL",
)


class _FlushMarker:
    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


class StoreWriter(threading.Thread):
    def __init__(self, connect, bus: EventBus):
        super().__init__(name="intern-tui-store-writer", daemon=True)
        self._connect = connect
        self.sub = bus.subscribe("store")
        self._stop_requested = False
        self.committed = 0
        self.batches = 0
        self.last_error: str | None = None
        self._pending: list[Event] = []

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Block until every event published before this call is committed. True when it was."""
        if not self.is_alive():
            return False
        marker = _FlushMarker()
        self.sub.put_marker(marker)  # FIFO: the marker is reached after everything queued before it
        return marker.done.wait(timeout)

    def stop(self, timeout: float | None = 10.0) -> None:
        """Commit what is queued, then end the thread."""
        self._stop_requested = True
        self.sub.wake()
        self.join(timeout)
        self.sub.close()

    def run(self) -> None:
        conn = self._connect()
        try:
            while True:
                self.sub.wait(FLUSH_INTERVAL)
                items = self.sub.drain(MAX_BATCH)
                markers = [i for i in items if isinstance(i, _FlushMarker)]
                self._pending.extend(i for i in items if not isinstance(i, _FlushMarker))
                if self._pending:
                    self._commit(conn)
                for m in markers:
                    m.done.set()
                if self._stop_requested and not len(self.sub) and not self._pending:
                    break
        finally:
            conn.close()

    def _commit(self, conn: sqlite3.Connection) -> None:
        batch = self._pending
        try:
            self._retrying(conn, lambda: insert_events(conn, batch))
        except Exception as exc:  # a bad row (duplicate seq, unprojectable payload): isolate it
            self._commit_one_by_one(conn, batch, exc)
        self.committed += len(batch)
        self.batches += 1
        self._pending = []

    def _retrying(self, conn: sqlite3.Connection, work) -> None:
        """Run `work` in a transaction; locked / busy / disk full / I/O errors keep the events in memory and
        retry with backoff (nothing is dropped); any other error is raised."""
        delay = 0.05
        while True:
            try:
                self._transaction(conn, work)
                return
            except sqlite3.OperationalError as exc:
                if not getattr(exc, "sqlite_errorname", "").startswith(TRANSIENT):
                    raise
                self._report(f"store write failed, retrying: {exc}")
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    @staticmethod
    def _transaction(conn: sqlite3.Connection, work) -> None:
        with write_transaction(conn):
            work()

    def _commit_one_by_one(self, conn: sqlite3.Connection, batch: Sequence[Event], cause: Exception) -> None:
        """Isolate the bad event: everything else is stored with its projections; the event log keeps the
        bad event itself whenever its row can be written at all (only its projection is skipped)."""
        self._report(f"store batch failed ({cause}); writing events one by one")
        for event in batch:
            try:
                self._retrying(conn, lambda e=event: insert_events(conn, [e]))
            except sqlite3.IntegrityError as exc:
                self._report(f"event {event.session_id}#{event.seq} not stored: {exc}")
            except Exception as exc:
                self._report(f"event {event.session_id}#{event.seq} stored without projection: {exc!r}")
                try:
                    self._retrying(conn, lambda e=event: insert_events(conn, [e], project_rows=False))
                except sqlite3.DatabaseError as exc2:
                    self._report(f"event {event.session_id}#{event.seq} not stored: {exc2}")

    def _report(self, message: str) -> None:
        if message != self.last_error:
            log.warning(message)
        self.last_error = message
