"""Keeps the projection tables (sessions, approvals, files, jobs, metrics) in step with the events.

Called by the writer inside the same transaction that inserts the events, so a projection can never
disagree with the log it came from. Hot kinds (logs, GPU samples) touch only the per-session counters.
"""

from __future__ import annotations

import hashlib
import math
import sqlite3
from collections.abc import Sequence
from typing import cast

from ..events import (
    ENDED_STATUSES,
    ApprovalDecidedPayload,
    ApprovalRequestedPayload,
    Event,
    JobFinishedPayload,
    JobStartedPayload,
    Kind,
    SessionEndedPayload,
    SessionStartedPayload,
    SessionStatus,
    dumps,
)
from .titles import derive_title

# `sessions.steps` counts steps the model answered: a step whose call failed or is still in flight is not
# one yet (the same rule resume uses to number the next step).
_STEP_KINDS = frozenset({"model_output", "observation", "final_answer"})

INSERT_EVENT = "INSERT INTO events (session_id, seq, ts, kind, step, payload) VALUES (?, ?, ?, ?, ?, ?)"


def insert_events(conn: sqlite3.Connection, events: Sequence[Event], project_rows: bool = True) -> None:
    conn.executemany(
        INSERT_EVENT,
        [(e.session_id, e.seq, e.ts, e.kind, e.step, e.payload_json or dumps(e.payload)) for e in events],
    )
    if project_rows:
        project(conn, events)


def project(conn: sqlite3.Connection, events: Sequence[Event]) -> None:
    counters: dict[str, tuple[int, int | None, float]] = {}
    metric_rows: list[tuple] = []
    handlers = _HANDLERS
    for e in events:
        if e.kind == "job_metric":  # the one high-rate projection: batched into a single executemany
            metric_rows.extend(_metric_rows(e))
        elif (handler := handlers.get(e.kind)) is not None:
            if metric_rows:  # keep metric rows ordered before a later event that could depend on them
                _insert_metrics(conn, metric_rows)
                metric_rows = []
            handler(conn, e)
        last = counters.get(e.session_id)
        step = last[1] if last is not None else None
        if e.kind in _STEP_KINDS and e.step is not None:
            step = e.step if step is None else max(step, e.step)
        counters[e.session_id] = (e.seq, step, e.ts)
    if metric_rows:
        _insert_metrics(conn, metric_rows)
    conn.executemany(
        "UPDATE sessions SET event_count = max(event_count, ?), steps = max(steps, coalesce(?, 0)),"
        " updated_at = ? WHERE id = ?",
        [(seq, step, ts, sid) for sid, (seq, step, ts) in counters.items()],
    )


def _status(conn: sqlite3.Connection, e: Event, status: str) -> None:
    conn.execute("UPDATE sessions SET status = ? WHERE id = ?", (status, e.session_id))


def _session_started(conn: sqlite3.Connection, e: Event) -> None:
    p = cast(SessionStartedPayload, e.payload)
    conn.execute(
        "INSERT INTO sessions (id, task, model, status, title, started_at, updated_at, max_steps, parent_id,"
        " fork_step, workspace, pid, host) VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT(id) DO UPDATE SET status = 'running', ended_at = NULL, model = excluded.model,"
        " max_steps = excluded.max_steps, pid = excluded.pid, host = excluded.host",
        (
            e.session_id,
            p.get("task"),
            p.get("model"),
            p.get("title") or derive_title(p.get("task")),
            e.ts,
            e.ts,
            p.get("max_steps"),
            p.get("parent_id"),
            p.get("fork_step"),
            p.get("workspace"),
            p.get("pid"),
            p.get("host"),
        ),
    )


def _approval_requested(conn: sqlite3.Connection, e: Event) -> None:
    p = cast(ApprovalRequestedPayload, e.payload)
    conn.execute(
        "INSERT OR REPLACE INTO approvals (id, session_id, step, tool, arguments, estimate, status,"
        " requested_seq, requested_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
        (
            p["id"],
            e.session_id,
            e.step,
            p.get("tool"),
            dumps(p.get("arguments", {})),
            dumps(p.get("estimate") or {}),
            e.seq,
            e.ts,
        ),
    )
    _status(conn, e, SessionStatus.WAITING)


def _approval_decided(conn: sqlite3.Connection, e: Event) -> None:
    p = cast(ApprovalDecidedPayload, e.payload)
    approved = p.get("decision") in ("approve", "always", "edit", "auto")
    conn.execute(
        "UPDATE approvals SET status = ?, decision = ?, reason = ?, decided_by = ?, edited = ?, decided_seq = ?,"
        " decided_at = ? WHERE id = ?",
        (
            p.get("status") or ("approved" if approved else "denied"),
            p.get("decision"),
            p.get("reason"),
            p.get("decided_by", "user"),
            dumps(p["edited"]) if p.get("edited") is not None else None,
            e.seq,
            e.ts,
            p["id"],
        ),
    )
    pending = conn.execute(
        "SELECT count(*) FROM approvals WHERE session_id = ? AND status = 'pending'", (e.session_id,)
    ).fetchone()[0]
    if not pending:
        conn.execute(
            "UPDATE sessions SET status = 'running' WHERE id = ? AND status = 'waiting'", (e.session_id,)
        )


def _ended(conn: sqlite3.Connection, e: Event, status: str) -> None:
    conn.execute(
        "UPDATE sessions SET status = ?, ended_at = ?, error = coalesce(?, error) WHERE id = ?",
        (status, e.ts, e.payload.get("error"), e.session_id),
    )
    # A request nobody can answer any more is kept, marked abandoned: never silently lost.
    conn.execute(
        "UPDATE approvals SET status = 'abandoned', decided_by = 'session-end', decided_at = ?"
        " WHERE session_id = ? AND status = 'pending'",
        (e.ts, e.session_id),
    )


def _session_ended(conn: sqlite3.Connection, e: Event) -> None:
    status = cast(SessionEndedPayload, e.payload).get("status", SessionStatus.DONE)
    _ended(conn, e, status if status in ENDED_STATUSES else SessionStatus.DONE)


def _final_answer(conn: sqlite3.Connection, e: Event) -> None:
    answer = e.payload.get("answer")
    conn.execute(
        "UPDATE sessions SET final_answer = ? WHERE id = ?",
        (answer if isinstance(answer, str) else dumps(answer), e.session_id),
    )


def _file_written(conn: sqlite3.Connection, e: Event) -> None:
    p = e.payload
    content = p.get("content") or ""
    conn.execute(
        "INSERT OR REPLACE INTO files (session_id, path, version, seq, step, ts, sha256, size, content)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            e.session_id,
            p["path"],
            p["version"],
            e.seq,
            e.step,
            e.ts,
            hashlib.sha256(content.encode()).hexdigest(),
            len(content.encode()),
            content,
        ),
    )


def _job_started(conn: sqlite3.Connection, e: Event) -> None:
    p = cast(JobStartedPayload, e.payload)
    conn.execute(
        "INSERT OR REPLACE INTO jobs (id, session_id, backend, script, args, status, pid, pgid, remote_id, url,"
        " flavor, log_path, started_at) VALUES (?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?)",
        (
            p["job_id"],
            e.session_id,
            p.get("backend", "local"),
            p.get("script"),
            dumps(p.get("args") or {}),
            p.get("pid"),
            p.get("pgid"),
            p.get("remote_id"),
            p.get("url"),
            p.get("flavor"),
            p.get("log_path"),
            e.ts,
        ),
    )


def _job_finished(conn: sqlite3.Connection, e: Event) -> None:
    p = cast(JobFinishedPayload, e.payload)
    conn.execute(
        "UPDATE jobs SET status = ?, exit_code = ?, ended_at = ?, error = ? WHERE id = ?",
        (p.get("status", "completed"), p.get("exit_code"), e.ts, p.get("error"), p["job_id"]),
    )


def _metric_rows(e: Event) -> list[tuple]:
    p = e.payload
    # Only finite numbers: SQLite's JSON functions reject NaN/Infinity (the event itself keeps them).
    values = {
        k: v
        for k, v in (p.get("values") or {}).items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    }
    return [(e.session_id, p.get("job_id"), p.get("step"), dumps(values), e.seq, e.ts)] if values else []


def _insert_metrics(conn: sqlite3.Connection, rows: list[tuple]) -> None:
    conn.executemany(
        "INSERT INTO metrics (session_id, job_id, step, metrics, seq, ts) VALUES (?, ?, ?, ?, ?, ?)"
        " ON CONFLICT(job_id, step) DO UPDATE SET metrics = json_patch(metrics, excluded.metrics),"
        " seq = excluded.seq, ts = excluded.ts",
        rows,
    )


def _token_usage(conn: sqlite3.Connection, e: Event) -> None:
    p = e.payload
    conn.execute(
        "UPDATE sessions SET tokens_in = tokens_in + ?, tokens_out = tokens_out + ?, cost_usd = cost_usd + ?"
        " WHERE id = ?",
        (
            int(p.get("input_tokens") or 0),
            int(p.get("output_tokens") or 0),
            float(p.get("cost_usd") or 0.0),
            e.session_id,
        ),
    )


def _renamed(conn: sqlite3.Connection, e: Event) -> None:
    title = e.payload.get("title")
    if isinstance(title, str) and title.strip():
        conn.execute("UPDATE sessions SET title = ? WHERE id = ?", (title, e.session_id))


_HANDLERS = {
    Kind.SESSION_STARTED: _session_started,
    Kind.RENAMED: _renamed,
    Kind.PAUSED: lambda c, e: e.payload.get("phase") != "requested" and _status(c, e, SessionStatus.PAUSED),
    Kind.RESUMED: lambda c, e: _status(c, e, SessionStatus.RUNNING),
    Kind.APPROVAL_REQUESTED: _approval_requested,
    Kind.APPROVAL_DECIDED: _approval_decided,
    Kind.INTERRUPTED: lambda c, e: (
        e.payload.get("phase") != "requested" and _ended(c, e, SessionStatus.INTERRUPTED)
    ),
    Kind.FINAL_ANSWER: _final_answer,
    Kind.SESSION_ENDED: _session_ended,
    Kind.FILE_WRITTEN: _file_written,
    Kind.JOB_STARTED: _job_started,
    Kind.JOB_FINISHED: _job_finished,
    Kind.TOKEN_USAGE: _token_usage,
}
