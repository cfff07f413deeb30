"""Moving sessions in and out of a store: import an exported event log, delete a session, and export the
model turns as a `script:` policy that re-executes the session deterministically."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from ..errors import BadInput
from ..events import KINDS, Event, Kind, dumps
from ..redact import default_redactor
from ..sanitize import clean_value
from .db import Store, check_session_id, write_transaction
from .projection import insert_events
from .queries import iter_events

SESSION_TABLES = ("events", "approvals", "files", "jobs", "metrics", "mirror_queue", "mirror_state")


def import_events(store: Store, lines: Iterable[str], *, source: str = "input") -> tuple[str, int]:
    """Load one session exported with `sessions export --format events`. Redacted again on the way in.
    Returns (session id, events imported). The whole import is one transaction: all or nothing."""
    redactor = default_redactor()
    events: list[Event] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(redactor.sub(line))
            event = Event(
                raw["session_id"],
                int(raw["seq"]),
                float(raw["ts"]),
                raw["kind"],
                raw.get("step"),
                clean_value(raw.get("payload") or {}),  # no terminal control sequences from a file
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise BadInput(
                f"{source}:{number}: not an intern-tui event ({exc})",
                hint="export with: intern-tui sessions export ID --format events",
            ) from exc
        if event.kind not in KINDS:
            raise BadInput(f"{source}:{number}: unknown event kind {event.kind!r}")
        event.payload_json = dumps(event.payload)
        events.append(event)
    if not events:
        raise BadInput(f"{source} holds no events")
    ids = {e.session_id for e in events}
    if len(ids) != 1:
        raise BadInput(f"{source} mixes {len(ids)} sessions; import one session per file")
    seqs = [e.seq for e in events]
    if seqs != list(range(1, len(seqs) + 1)):
        raise BadInput(f"{source}: events must be the complete log (seq 1, 2, 3… without gaps)")
    session_id = check_session_id(events[0].session_id)
    conn = store.connect()
    try:
        with write_transaction(conn):  # the existence check inside: two imports can't both pass it
            if conn.execute("SELECT 1 FROM sessions WHERE id = ?", (session_id,)).fetchone():
                raise BadInput(
                    f"session {session_id} already exists in this store",
                    hint="delete it first or import into another --home",
                )
            insert_events(conn, events)
    finally:
        conn.close()
    return session_id, len(events)


def delete_session(store: Store, session_id: str, *, workspace: bool = True) -> None:
    """Remove a session's rows everywhere (one transaction) and, optionally, its workspace folder."""
    lock = store.lock_session(session_id)
    if not lock.try_acquire():
        raise BadInput(f"session {session_id} is running; interrupt it before deleting it")
    conn = store.connect()
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        with write_transaction(conn):
            for table in SESSION_TABLES:
                if table in tables:
                    conn.execute(f"DELETE FROM {table} WHERE session_id = ?", (session_id,))
            conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
    finally:
        conn.close()
        lock.release(remove=True)
    if workspace:
        folder = store.workspace(session_id)
        if folder.resolve().parent == store.workspaces.resolve():  # never anything but one session's folder
            shutil.rmtree(folder, ignore_errors=True)


def export_script(conn: sqlite3.Connection, session_id: str, out: TextIO) -> int:
    """The session's model turns as a script: policy (one {"thought", "code"} per line). Returns turns."""
    from ..agent.memory import rebuild_memory

    turns = rebuild_memory(iter_events(conn, session_id, kinds=[Kind.MODEL_OUTPUT, Kind.CODE_ACTION])).turns
    for turn in turns:
        out.write(json.dumps(turn, ensure_ascii=False) + "\n")
    return len(turns)


def write_workspace_at(conn: sqlite3.Connection, session_id: str, target: Path, upto_step: int | None) -> int:
    """Recreate the files a session had written by `upto_step` (their stored versions) under `target`."""
    latest: dict[str, str] = {}
    for e in iter_events(conn, session_id, kinds=[Kind.FILE_WRITTEN]):
        if upto_step is not None and e.step is not None and e.step > upto_step:
            break
        if e.payload.get("content") is not None:
            latest[e.payload["path"]] = e.payload["content"]
    for rel, content in latest.items():
        if rel.startswith(("/", "~")) or ".." in Path(rel).parts:
            continue  # never trust a path from an imported log to stay inside the target
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    return len(latest)
