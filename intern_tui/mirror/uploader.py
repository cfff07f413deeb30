"""The mirror: a background thread that pushes each session's new events to the user's private dataset.

The UI thread only ever calls `notify()`, `status()` and `stop()`: they touch a few attributes and an
Event, never the network or the database, so a hung Hub can't freeze the screen. The thread wakes on a
heartbeat (every `heartbeat_seconds`), on `notify()`, when a session ends (if given the bus) and when a
failed upload's back-off is over; each wake is one cycle: plan (record the work in SQLite) then push what
is due. One process at a time uploads (an flock on run/mirror.lock), so two intern-tui processes never
race on the same files. Offline is a normal state: the work stays queued and is retried, also at the next
start.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..bus import EventBus
from ..events import Event, Kind
from ..redact import Redactor
from ..store import SessionLock, Store
from . import layout, queue
from .hub import HubError, HubTarget
from .settings import MirrorSettings

log = logging.getLogger(__name__)

BUSY_RETRY = 5.0  # seconds, when another process holds the upload lock
END_COMMIT_WAIT = 5.0  # how long to wait for a just-ended session's last events to be committed


@dataclass(frozen=True)
class MirrorStatus:
    """What the TUI header shows: `str(status)`, e.g. "mirror: 3 pending, offline"."""

    state: str  # disabled | starting | uploading | synced | pending | offline | refused | error | busy
    repo: str | None = None
    pending: int = 0  # sessions with events not yet on the Hub
    error: str | None = None

    def __str__(self) -> str:
        if self.state == "disabled":
            return "mirror: disabled"
        if self.state == "refused":
            return f"mirror: {self.error or 'refused'}".split(" (datasets/")[0]
        if self.state == "synced":
            return "mirror: synced"
        parts = [f"{self.pending} pending"] if self.pending else []
        if self.state == "offline":
            parts.append("offline")
        elif self.state in ("error", "busy") and self.error:
            parts.append(self.error)
        elif self.state in ("uploading", "starting"):
            parts.append(self.state)
        return "mirror: " + (", ".join(parts) or self.state)


@dataclass
class PushReport:
    """The outcome of one cycle (or of `intern-tui mirror push`)."""

    sessions: list[str] = field(default_factory=list)  # sessions pushed
    files: int = 0
    error: HubError | None = None


class Mirror:
    """Mirrors every session of a store to `{hf_user}/intern-tui-sessions` (or the configured repo)."""

    def __init__(
        self,
        store: Store,
        settings: MirrorSettings | None = None,
        *,
        api: Any = None,
        bus: EventBus | None = None,
        clock: Callable[[], float] = time.time,
        redactor: Redactor | None = None,
    ):
        self.store = store
        self.settings = settings if settings is not None else MirrorSettings.load()
        self.target = HubTarget(self.settings, api)
        self.clock = clock
        # Built now, from the environment as it is now: secrets set since the default redactor was made
        # are known too.
        self.redactor = redactor or Redactor()
        self._status = MirrorStatus("disabled" if not self.settings.enabled else "starting")
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._cycle_lock = threading.Lock()  # one cycle at a time in this process (thread or push())
        self._ended: dict[str, int] = {}  # session id → seq of its session_ended, from the bus
        self._idle = threading.Condition()
        self._cycles = 0
        self._next_delay = self.settings.heartbeat_seconds
        self._sub = bus.subscribe("mirror", accept=self._on_event) if bus is not None else None

    # -- the UI thread's side: none of these block --------------------------------------------------

    def start(self, delay: float = 0.0) -> None:
        """Start the uploader thread (not when the mirror is disabled). `delay` postpones the first cycle
        (the TUI passes a few seconds so the Hub client's import doesn't compete with its first frame)."""
        if not self.settings.enabled or self._thread is not None:
            return
        self._first_delay = delay
        self._thread = threading.Thread(target=self._run, name="intern-tui-mirror", daemon=True)
        self._thread.start()

    def notify(self, session_id: str | None = None) -> None:
        """Push soon (a session ended, the user asked). Returns at once."""
        self._wake.set()

    heartbeat = notify

    def status(self) -> MirrorStatus:
        return self._status

    def stop(self, timeout: float = 10.0) -> bool:
        """One last cycle, then end the thread; waits at most `timeout` s (what is left stays queued for
        the next start). True when the thread finished in time."""
        if self._sub is not None:
            self._sub.close()
        thread = self._thread
        if thread is None:
            return True
        self._stopping = True
        self._wake.set()
        thread.join(timeout)
        return not thread.is_alive()

    def wait_cycles(self, count: int, timeout: float = 10.0) -> bool:
        """Block until the thread has completed `count` cycles in total (for tests and scripts)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._cycles >= count, timeout)

    @property
    def cycles(self) -> int:
        return self._cycles

    def _on_event(self, event: Event) -> bool:
        # Runs on the producer's thread under the emitter's lock: a dict write and an Event.set, no more.
        if event.kind == Kind.SESSION_ENDED:
            self._ended[event.session_id] = event.seq
            self._wake.set()
        return False  # never queue anything: the mirror reads events from the database

    # -- the uploader thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        delay, first = getattr(self, "_first_delay", 0.0), True
        while True:
            if delay:
                self._wake.wait(delay)
            self._wake.clear()
            stopping = self._stopping
            try:
                # The first cycle retries everything left by an earlier run, back-off or not.
                delay = self._background_cycle(force=first)
                first = False
            except Exception as exc:  # a bug must not kill the thread: report and try again later
                log.exception("mirror cycle failed")
                self._set_status("error", error=f"internal error: {type(exc).__name__}: {exc}")
                delay = self.settings.heartbeat_seconds
            with self._idle:
                self._cycles += 1
                self._idle.notify_all()
            if stopping:
                return

    def _background_cycle(self, force: bool = False) -> float:
        """One cycle of the thread; returns seconds until the next one is due."""
        if self._cycle_lock.locked():  # a push() of this process is running: it does the work
            return BUSY_RETRY
        report = self._locked(lambda conn: self._thread_work(conn, force), wait=None)
        if report.error is not None and report.error.kind == "busy":
            self._set_status("busy", error=report.error.message)
            return BUSY_RETRY
        return self._next_delay

    def _thread_work(self, conn: sqlite3.Connection, force: bool) -> PushReport:
        self._wait_for_ended_sessions(conn)
        report = self._cycle(conn, force=force)
        self._next_delay = self._delay_after(conn, report)
        return report

    def _wait_for_ended_sessions(self, conn: sqlite3.Connection) -> None:
        """A session_ended seen on the bus may not be committed yet: give the writer a moment, so the final
        push includes it."""
        ended, self._ended = self._ended, {}
        deadline = time.monotonic() + END_COMMIT_WAIT
        for session_id, seq in list(ended.items()):
            while time.monotonic() < deadline:
                row = conn.execute(
                    "SELECT max(seq) FROM events WHERE session_id = ?", (session_id,)
                ).fetchone()
                if (row[0] or 0) >= seq:
                    break
                time.sleep(0.05)

    def _delay_after(self, conn: sqlite3.Connection, report: PushReport) -> float:
        heartbeat = self.settings.heartbeat_seconds
        repo = self.target.repo
        if repo is None or (report.error is not None and report.error.kind == "refused"):
            return heartbeat if repo else min(heartbeat, queue.BACKOFF_BASE * 6)
        row = conn.execute(
            "SELECT min(next_attempt_at) FROM mirror_queue WHERE repo = ? AND status IN ('pending', 'failed')",
            (repo,),
        ).fetchone()
        if row[0] is None:
            return heartbeat
        return max(1.0, min(heartbeat, row[0] - self.clock()))

    # -- one cycle: plan, then push -------------------------------------------------------------------

    def sync_once(self) -> PushReport:
        """One heartbeat cycle, synchronously: plan, then push what is due (back-off respected)."""
        return self._locked(lambda conn: self._cycle(conn, force=False), wait=None)

    def push(
        self,
        session_id: str | None = None,
        *,
        progress: Callable[[str], None] | None = None,
        lock_timeout: float = 120.0,
    ) -> PushReport:
        """Push now, ignoring back-off (for `intern-tui mirror push`). Blocks; not for the UI thread."""
        return self._locked(
            lambda conn: self._cycle(conn, force=True, session_id=session_id, progress=progress),
            wait=lock_timeout,
        )

    def _locked(self, work: Callable[[sqlite3.Connection], PushReport], wait: float | None) -> PushReport:
        """Run `work` holding this process's cycle lock and the cross-process upload lock (waiting up to
        `wait` s for them; None: don't wait)."""
        busy = PushReport(error=HubError("busy", "another intern-tui process is uploading; try again later"))
        acquired = (
            self._cycle_lock.acquire(blocking=False)
            if wait is None
            else self._cycle_lock.acquire(timeout=wait)
        )
        if not acquired:
            return busy
        try:
            lock = SessionLock(self.store.run_dir / "mirror.lock")
            deadline = time.monotonic() + (wait or 0)
            while not lock.try_acquire():
                if time.monotonic() >= deadline:
                    return busy
                time.sleep(0.2)
            conn = self.store.connect()
            try:
                return work(conn)
            finally:
                conn.close()
                lock.release()
        finally:
            self._cycle_lock.release()

    def _cycle(
        self,
        conn: sqlite3.Connection,
        *,
        force: bool,
        session_id: str | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> PushReport:
        say = progress or (lambda line: None)
        report = PushReport()
        if not self.settings.enabled:
            report.error = HubError("disabled", "the mirror is disabled ([mirror] enabled = false)")
            return report
        try:
            repo = self.target.resolve()
        except HubError as err:
            report.error = err
            self._set_status(_state_of(err), repo=queue.last_known_repo(conn), error=err.message, conn=conn)
            return report
        queue.plan(conn, repo, self.settings, self.clock(), session_id)
        due = queue.due_sessions(conn, repo, self.clock(), force=force, session_id=session_id)
        if due:
            self._set_status("uploading", repo=repo, conn=conn)
        for sid in due:
            try:
                files = self._push_session(conn, repo, sid, say)
            except HubError as err:
                report.error = err
                say(f"  {sid}: failed: {err.message}")
                if err.kind in ("offline", "auth", "permission", "refused", "wrong_type", "busy"):
                    break  # the same for every session: don't hammer the Hub
                continue
            report.sessions.append(sid)
            report.files += files
        if report.error is not None:
            self._set_status(_state_of(report.error), repo=repo, error=report.error.message, conn=conn)
        else:
            self._set_status("synced", repo=repo, conn=conn)
        return report

    def _push_session(self, conn: sqlite3.Connection, repo: str, sid: str, say: Callable[[str], None]) -> int:
        """Upload everything queued for one session (up to `shards_per_commit` shards) in one commit."""
        total = 0
        while True:
            rows = queue.open_rows(conn, repo, sid, self.settings.shards_per_commit)
            if not rows:
                return total
            try:
                info = self.target.check(repo)  # before every upload: private, or nothing is sent
            except HubError as err:
                if err.kind == "refused":
                    queue.release(conn, repo, err.message, self.clock())
                else:
                    queue.mark_failed(conn, rows, err.message, self.clock(), permanent=err.permanent)
                raise
            files, card, upto, summary = self._files_for(conn, repo, sid, rows, info)
            say(f"  {sid}: {summary} …")
            try:
                self.target.commit(repo, files, f"intern-tui: session {sid} ({summary})")
            except HubError as err:
                queue.mark_failed(conn, rows + card, err.message, self.clock(), permanent=err.permanent)
                raise
            queue.mark_done(conn, repo, sid, rows + card, upto, self.clock())
            say(f"  {sid}: pushed {len(files)} file{'s' if len(files) != 1 else ''}")
            total += len(files)

    def _files_for(
        self, conn: sqlite3.Connection, repo: str, sid: str, rows: list[queue.QueueRow], info: Any
    ) -> tuple[list[tuple[str, bytes]], list[queue.QueueRow], int, str]:
        """The commit's files — shards, trace and meta as of the last shard, the card if still owed,
        workspace files if asked for — each scrubbed on its way to bytes."""
        r = self.redactor
        shards = [row for row in rows if row.item == "events"]
        pushed = conn.execute(
            "SELECT pushed_seq FROM mirror_state WHERE repo = ? AND session_id = ?", (repo, sid)
        ).fetchone()
        upto = max([row.to_seq for row in shards] + [pushed[0] if pushed else 0])
        files: list[tuple[str, bytes]] = []
        for row in shards:
            text = layout.shard_text(conn, sid, row.from_seq, row.to_seq, r)
            files.append((layout.shard_path(sid, row.from_seq, row.to_seq), layout.to_bytes(text, r)))
        base = layout.session_dir(sid)
        files.append((f"{base}/trace.jsonl", layout.to_bytes(layout.trace_text(conn, sid, upto, r), r)))
        files.append((f"{base}/meta.json", layout.to_bytes(layout.meta_text(conn, sid, upto), r)))
        parts = [f"events {shards[0].from_seq}-{shards[-1].to_seq}"] if shards else []
        if any(row.item == "workspace" for row in rows) and self.settings.upload_workspace:
            texts, skipped = layout.workspace_files(self.store.workspace(sid))
            files.extend((f"{base}/workspace/{rel}", layout.to_bytes(text, r)) for rel, text in texts)
            parts.append(f"{len(texts)} workspace files" + (f" ({len(skipped)} skipped)" if skipped else ""))
        card: list[queue.QueueRow] = []
        if (owed := queue.open_card(conn, repo)) is not None:
            card = [owed]
            if not _has_file(info, "README.md"):  # never overwrite a card the user wrote
                files.append(("README.md", layout.to_bytes(layout.card_text(repo), r)))
                parts.append("dataset card")
        return files, card, upto, ", ".join(parts + ["trace", "meta"])

    def _set_status(
        self,
        state: str,
        *,
        repo: str | None = None,
        error: str | None = None,
        conn: sqlite3.Connection | None = None,
    ) -> None:
        pending = self._status.pending
        if conn is not None:
            try:
                pending = queue.unsynced_sessions(conn, repo)
            except sqlite3.Error:
                pass
        if state == "synced" and pending:
            state = "pending"  # e.g. rows still backing off
        self._status = MirrorStatus(state, repo or self._status.repo, pending, error)


def _state_of(err: HubError) -> str:
    if err.kind in ("offline", "server"):
        return "offline"
    if err.kind in ("refused", "busy"):
        return err.kind
    return "error"


def _has_file(info: Any, name: str) -> bool:
    siblings = getattr(info, "siblings", None) or []
    return any(getattr(s, "rfilename", None) == name for s in siblings)
