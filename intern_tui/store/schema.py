"""The database schema and its migrations.

`events` is the source of truth (append-only, gap-free `seq` per session). The other tables are
projections the writer keeps up to date in the same transaction, so queries never replay events.
Migrations use sqlite-utils (imported only when a migration runs, and without the pandas import it
would otherwise trigger: see `_import_sqlite_utils`). Each migration is a function applied once, recorded in `schema_version`.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

SCHEMA_VERSION = 3


def _v1(db) -> None:
    db["sessions"].create(
        {
            "id": str,
            "task": str,
            "model": str,
            "status": str,
            "title": str,
            "started_at": float,
            "ended_at": float,
            "updated_at": float,
            "steps": int,
            "max_steps": int,
            "event_count": int,
            "final_answer": str,
            "error": str,
            "parent_id": str,
            "fork_step": int,
            "workspace": str,
            "pid": int,
            "host": str,
            "tokens_in": int,
            "tokens_out": int,
            "cost_usd": float,
        },
        pk="id",
        not_null={"status"},
        defaults={"steps": 0, "event_count": 0, "tokens_in": 0, "tokens_out": 0, "cost_usd": 0.0},
    )
    db["sessions"].create_index(["started_at"])
    db["sessions"].create_index(["status"])

    db["events"].create(
        {"session_id": str, "seq": int, "ts": float, "kind": str, "step": int, "payload": str},
        pk=("session_id", "seq"),
        not_null={"session_id", "seq", "ts", "kind", "payload"},
    )
    db["events"].create_index(["session_id", "kind"])

    db["approvals"].create(
        {
            "id": str,
            "session_id": str,
            "step": int,
            "tool": str,
            "arguments": str,  # JSON
            "estimate": str,  # JSON: gpu_hours, usd, flavor…
            "status": str,  # pending | approved | denied | abandoned
            "decision": str,  # approve | always | deny | edit | auto
            "reason": str,
            "decided_by": str,  # user | policy | budget | recovery
            "edited": str,  # JSON of the edited arguments
            "requested_seq": int,
            "decided_seq": int,
            "requested_at": float,
            "decided_at": float,
        },
        pk="id",
    )
    db["approvals"].create_index(["session_id", "status"])

    db["files"].create(
        {
            "session_id": str,
            "path": str,
            "version": int,
            "seq": int,
            "step": int,
            "ts": float,
            "sha256": str,
            "size": int,
            "content": str,
        },
        pk=("session_id", "path", "version"),
    )

    db["jobs"].create(
        {
            "id": str,
            "session_id": str,
            "backend": str,  # local | hf
            "script": str,
            "args": str,  # JSON
            "status": str,  # starting | running | completed | failed | canceled | lost
            "pid": int,
            "pgid": int,
            "remote_id": str,
            "url": str,
            "flavor": str,
            "log_path": str,
            "started_at": float,
            "ended_at": float,
            "exit_code": int,
            "error": str,
        },
        pk="id",
    )
    db["jobs"].create_index(["session_id"])

    # One row per (job, logging step): the values of every source merged (json_patch), so the same step
    # reported by the JSONL callback, stdout and trainer_state.json is stored once.
    db["metrics"].create(
        {"session_id": str, "job_id": str, "step": int, "metrics": str, "seq": int, "ts": float},
        pk=("job_id", "step"),
    )

    # Durable upload work for the Hub mirror: recorded first, uploaded later, retried until done.
    db["mirror_queue"].create(
        {
            "id": int,
            "session_id": str,
            "item": str,  # events | trace | meta | card
            "from_seq": int,
            "to_seq": int,
            "status": str,  # pending | done | failed
            "attempts": int,
            "next_attempt_at": float,
            "last_error": str,
            "created_at": float,
            "done_at": float,
        },
        pk="id",
        defaults={"attempts": 0, "status": "pending"},
    )
    db["mirror_queue"].create_index(["status", "next_attempt_at"])


def _v2(db) -> None:
    """The Hub mirror's bookkeeping: which target repo each queued upload is for, and per (repo, session)
    how far the event log has been cut into shards (`queued_seq`) and confirmed uploaded (`pushed_seq`)."""
    db["mirror_queue"].add_column("repo", str)
    db["mirror_queue"].create_index(["repo", "session_id", "status"])
    db["mirror_state"].create(
        {
            "repo": str,
            "session_id": str,
            "queued_seq": int,  # events up to here are covered by queue rows
            "pushed_seq": int,  # events up to here are on the Hub
            "workspace_queued": int,  # 1 once the workspace upload (opt-in) was queued
            "updated_at": float,
        },
        pk=("repo", "session_id"),
        not_null={"repo", "session_id"},
        defaults={"queued_seq": 0, "pushed_seq": 0, "workspace_queued": 0},
    )


def _v3(db) -> None:
    """Session titles: derived from the task (its first line or sentence, ~60 characters) instead of the
    task's first 80 characters, for sessions never renamed; renames (`renamed` events) update the title."""
    from .titles import derive_title

    conn = db.conn
    rows = conn.execute("SELECT id, task, title FROM sessions").fetchall()
    for session_id, task, title in rows:
        if not title or title == (task or "")[:80]:
            conn.execute("UPDATE sessions SET title = ? WHERE id = ?", (derive_title(task), session_id))


MIGRATIONS: dict[int, Callable] = {1: _v1, 2: _v2, 3: _v3}


def current_version(conn: sqlite3.Connection) -> int | None:
    """The recorded schema version, 0 for an empty database, None for a database that isn't ours."""
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if "schema_version" in tables:
        row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
        return int(row[0] or 0)
    return 0 if not tables else None


def _import_sqlite_utils():
    """sqlite-utils imports pandas and numpy when they are installed (they are: datasets needs them), which
    costs ~0.5 s on the first start. Our migrations use neither, so hide them while it imports."""
    import sys

    if "sqlite_utils" in sys.modules:
        return sys.modules["sqlite_utils"]
    hidden = [name for name in ("pandas", "numpy") if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # makes `import pandas` raise ImportError inside sqlite_utils
    try:
        import sqlite_utils
    finally:
        for name in hidden:
            del sys.modules[name]
    return sqlite_utils


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to SCHEMA_VERSION, one recorded migration at a time, each in a transaction."""
    sqlite_utils = _import_sqlite_utils()

    db = sqlite_utils.Database(conn)
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = current_version(conn) or 0  # re-read under the write lock: another process may have won
        if version == 0:
            conn.execute(
                "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            MIGRATIONS[target](db)
            conn.execute("INSERT INTO schema_version VALUES (?, ?)", (target, time.time()))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return SCHEMA_VERSION
