"""Startup recovery: re-attach the jobs of a resumed session, from what the store recorded.

The store knows each unfinished job (the `jobs` table), the byte offset of the last log line it recorded
(the latest `job_log` event), the metrics already emitted and the alerts raised. Handing these to
`JobManager.reattach` makes the new watcher continue exactly where the old one stopped.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from ..events import Kind
from .manager import JobManager


def _payloads(conn: sqlite3.Connection, session_id: str, kind: str, job_id: str, latest_only: bool = False):
    """Payloads of one job's events of a kind. Filtered in Python: metric payloads may hold NaN, which
    SQLite's JSON functions reject."""
    pattern = '%"job_id":"' + job_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + '"%'
    sql = (
        "SELECT payload FROM events WHERE session_id = ? AND kind = ? AND payload LIKE ? ESCAPE '\\'"
        " ORDER BY seq " + ("DESC LIMIT 1" if latest_only else "")
    )
    out = []
    for (text,) in conn.execute(sql, (session_id, kind, pattern)):
        try:
            payload = json.loads(text)
        except ValueError:
            continue
        if payload.get("job_id") == job_id:
            out.append(payload)
    return out


def load_job_rows(conn: sqlite3.Connection, session_id: str) -> list[dict[str, Any]]:
    """The session's unfinished jobs with what re-attaching needs: the last log offset recorded in its
    job_log events, the job_metric payloads already emitted, and its alerts."""
    cursor = conn.execute(
        "SELECT * FROM jobs WHERE session_id = ? AND status IN ('running', 'starting') ORDER BY started_at",
        (session_id,),
    )
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
    for row in rows:
        job_id = row["id"]
        last = _payloads(conn, session_id, Kind.JOB_LOG, job_id, latest_only=True)
        row["log_offset"] = int(last[0].get("offset") or 0) if last else 0
        row["metric_payloads"] = _payloads(conn, session_id, Kind.JOB_METRIC, job_id)
        row["alerts"] = _payloads(conn, session_id, Kind.ALERT, job_id)
        started = _payloads(conn, session_id, Kind.JOB_STARTED, job_id, latest_only=True)
        if started:
            row["timeout"] = started[0].get("timeout")
            row["name"] = started[0].get("name")
            row["proc_id"] = started[0].get("proc_id")
            row["started"] = started[0]  # the whole launch record: backends read what they need
    return rows


def recover_jobs(conn: sqlite3.Connection, session_id: str, manager: JobManager) -> list[str]:
    """At startup (resume): re-attach the session's unfinished jobs to `manager`. Returns their ids."""
    return manager.reattach(load_job_rows(conn, session_id))
