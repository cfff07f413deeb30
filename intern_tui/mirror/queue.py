"""The durable upload queue in SQLite (`mirror_queue`, `mirror_state`).

Work is recorded before it is attempted. `plan` cuts each session's new events into shard rows with fixed
seq bounds, in one transaction that also advances `mirror_state.queued_seq`, so shards are contiguous and
never overlap. A row is marked done only after the Hub confirmed its commit; a crash in between leaves it
pending, and the retry uploads the very same bytes to the very same path: the end state is exactly once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ..events import ENDED_STATUSES
from .layout import CARD_VERSION
from .settings import MirrorSettings

BACKOFF_BASE = 10.0
BACKOFF_MAX = 1800.0
ENDED = ENDED_STATUSES


@dataclass(frozen=True)
class QueueRow:
    id: int
    session_id: str
    item: str  # events | workspace | card
    from_seq: int
    to_seq: int
    attempts: int


@dataclass(frozen=True)
class SessionMirrorState:
    """One line of `intern-tui mirror status`."""

    session_id: str
    last_seq: int
    pushed_seq: int
    pending: int
    failed: int
    last_error: str | None


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def backoff(attempts: int, permanent: bool = False) -> float:
    """Seconds to wait before the next try: 10 s, 20 s, 40 s … capped at 30 min (at once for errors
    only the user can fix: a missing token, no permission, a public repo)."""
    if permanent:
        return BACKOFF_MAX
    return min(BACKOFF_BASE * 2 ** max(attempts - 1, 0), BACKOFF_MAX)


def plan(
    conn: sqlite3.Connection,
    repo: str,
    settings: MirrorSettings,
    now: float,
    session_id: str | None = None,
) -> int:
    """Queue every event not yet queued for `repo` (of one session or all). Returns rows created."""
    created = 0
    with transaction(conn):
        if not conn.execute(
            "SELECT 1 FROM mirror_queue WHERE repo = ? AND item = 'card' AND from_seq = ?",
            (repo, CARD_VERSION),
        ).fetchone():
            _insert(conn, repo, "", "card", CARD_VERSION, CARD_VERSION, now)
            created += 1
        sql = (
            "SELECT s.id, s.status, (SELECT max(seq) FROM events e WHERE e.session_id = s.id),"
            " coalesce(m.queued_seq, 0), coalesce(m.workspace_queued, 0)"
            " FROM sessions s LEFT JOIN mirror_state m ON m.session_id = s.id AND m.repo = ?"
        )
        args: list = [repo]
        if session_id is not None:
            sql += " WHERE s.id = ?"
            args.append(session_id)
        for sid, status, last_seq, queued, workspace_queued in conn.execute(sql, args).fetchall():
            last_seq = last_seq or 0
            start = queued + 1
            while start <= last_seq:
                end = min(last_seq, start + settings.shard_events - 1)
                _insert(conn, repo, sid, "events", start, end, now)
                created += 1
                start = end + 1
            ended = status in ENDED and last_seq > 0
            add_workspace = settings.upload_workspace and ended and not workspace_queued
            if add_workspace:
                _insert(conn, repo, sid, "workspace", last_seq, last_seq, now)
                created += 1
            if last_seq > queued or add_workspace:
                conn.execute(
                    "INSERT INTO mirror_state (repo, session_id, queued_seq, workspace_queued, updated_at)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT(repo, session_id) DO UPDATE SET"
                    " queued_seq = excluded.queued_seq, workspace_queued = excluded.workspace_queued,"
                    " updated_at = excluded.updated_at",
                    (repo, sid, max(queued, last_seq), int(workspace_queued or add_workspace), now),
                )
    return created


def _insert(
    conn: sqlite3.Connection, repo: str, sid: str, item: str, start: int, end: int, now: float
) -> None:
    conn.execute(
        "INSERT INTO mirror_queue (repo, session_id, item, from_seq, to_seq, status, attempts, next_attempt_at,"
        " created_at) VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?)",
        (repo, sid, item, start, end, now, now),
    )


_OPEN = "status IN ('pending', 'failed')"


def due_sessions(
    conn: sqlite3.Connection, repo: str, now: float, *, force: bool = False, session_id: str | None = None
) -> list[str]:
    """Sessions with queued uploads whose retry time has come (all of them with `force`), oldest first."""
    sql = f"SELECT session_id, min(id) FROM mirror_queue WHERE repo = ? AND session_id != '' AND {_OPEN}"
    args: list = [repo]
    if not force:
        sql += " AND next_attempt_at <= ?"
        args.append(now)
    if session_id is not None:
        sql += " AND session_id = ?"
        args.append(session_id)
    sql += " GROUP BY session_id ORDER BY min(id)"
    return [r[0] for r in conn.execute(sql, args)]


def open_rows(conn: sqlite3.Connection, repo: str, session_id: str, limit: int) -> list[QueueRow]:
    """A session's unfinished shard rows, in seq order (workspace last)."""
    rows = conn.execute(
        f"SELECT id, session_id, item, from_seq, to_seq, attempts FROM mirror_queue WHERE repo = ?"
        f" AND session_id = ? AND {_OPEN} ORDER BY item = 'workspace', from_seq LIMIT ?",
        (repo, session_id, limit),
    ).fetchall()
    return [QueueRow(*r) for r in rows]


def open_card(conn: sqlite3.Connection, repo: str) -> QueueRow | None:
    row = conn.execute(
        f"SELECT id, session_id, item, from_seq, to_seq, attempts FROM mirror_queue WHERE repo = ?"
        f" AND item = 'card' AND {_OPEN} ORDER BY id LIMIT 1",
        (repo,),
    ).fetchone()
    return QueueRow(*row) if row else None


def mark_done(
    conn: sqlite3.Connection, repo: str, session_id: str, rows: list[QueueRow], pushed_seq: int, now: float
) -> None:
    with transaction(conn):
        conn.executemany(
            "UPDATE mirror_queue SET status = 'done', done_at = ?, last_error = NULL WHERE id = ?",
            [(now, r.id) for r in rows],
        )
        if session_id and pushed_seq:
            conn.execute(
                "UPDATE mirror_state SET pushed_seq = max(pushed_seq, ?), updated_at = ?"
                " WHERE repo = ? AND session_id = ?",
                (pushed_seq, now, repo, session_id),
            )


def mark_failed(
    conn: sqlite3.Connection, rows: list[QueueRow], error: str, now: float, *, permanent: bool = False
) -> None:
    with transaction(conn):
        conn.executemany(
            "UPDATE mirror_queue SET status = 'failed', attempts = attempts + 1, last_error = ?,"
            " next_attempt_at = ? WHERE id = ?",
            [(error, now + backoff(r.attempts + 1, permanent), r.id) for r in rows],
        )


def release(conn: sqlite3.Connection, repo: str, error: str, now: float) -> None:
    """Not an attempt (the upload was refused before it started): keep the rows due, note why."""
    with transaction(conn):
        conn.execute(
            f"UPDATE mirror_queue SET last_error = ? WHERE repo = ? AND {_OPEN}",
            (error, repo),
        )


def session_states(conn: sqlite3.Connection, repo: str | None) -> list[SessionMirrorState]:
    """Per session: events stored vs pushed, unfinished rows, last error. Read-only."""
    rows = conn.execute(
        "SELECT s.id, (SELECT max(seq) FROM events e WHERE e.session_id = s.id), coalesce(m.pushed_seq, 0),"
        " (SELECT count(*) FROM mirror_queue q WHERE q.repo = m.repo AND q.session_id = s.id"
        "   AND q.status = 'pending'),"
        " (SELECT count(*) FROM mirror_queue q WHERE q.repo = m.repo AND q.session_id = s.id"
        "   AND q.status = 'failed'),"
        " (SELECT q.last_error FROM mirror_queue q WHERE q.repo = m.repo AND q.session_id = s.id"
        f"   AND {_OPEN} AND q.last_error IS NOT NULL ORDER BY q.id DESC LIMIT 1)"
        " FROM sessions s LEFT JOIN mirror_state m ON m.session_id = s.id AND m.repo = ?"
        " ORDER BY s.started_at DESC, s.id DESC",
        (repo,),
    ).fetchall()
    return [
        SessionMirrorState(sid, last or 0, pushed, pending, failed, err)
        for sid, last, pushed, pending, failed, err in rows
    ]


def unsynced_sessions(conn: sqlite3.Connection, repo: str | None) -> int:
    """Sessions with events not yet on the Hub (planned or not) — the number the TUI header shows."""
    return conn.execute(
        "SELECT count(*) FROM sessions s LEFT JOIN mirror_state m ON m.session_id = s.id AND m.repo = ?"
        " WHERE coalesce((SELECT max(seq) FROM events e WHERE e.session_id = s.id), 0) > coalesce(m.pushed_seq, 0)"
        " OR EXISTS (SELECT 1 FROM mirror_queue q WHERE q.repo = ? AND q.session_id = s.id AND q.status != 'done')",
        (repo, repo),
    ).fetchone()[0]


def last_known_repo(conn: sqlite3.Connection) -> str | None:
    """The target used most recently (to report on while the Hub can't be asked who the user is)."""
    row = conn.execute("SELECT repo FROM mirror_state ORDER BY updated_at DESC LIMIT 1").fetchone()
    return row[0] if row else None
