"""Moving sessions in and out of a store: import an exported event log, delete a session, and export the
model turns as a `script:` policy that re-executes the session deterministically."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

from ..errors import BadInput
from ..events import KINDS, Event, Kind, dumps
from ..redact import default_redactor
from ..sanitize import clean_value
from .db import Store, check_session_id, write_transaction
from .projection import insert_events
from .queries import iter_events

SESSION_TABLES = ("events", "approvals", "files", "jobs", "metrics", "mirror_queue", "mirror_state")


DEFAULT_IMPORT_LIMIT = 1 << 30  # 1 GiB of event log; `sessions import --max-size` raises it
IMPORT_BATCH = 5_000  # events inserted per executemany (memory stays flat whatever the file's size)


def parse_size(text: str) -> int:
    """'500M', '2G', '1.5g', '800000' (bytes) -> bytes; BadInput for anything else."""
    value = text.strip().upper().removesuffix("B").removesuffix("I")
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}.get(value[-1:], 1)
    number = value[:-1] if scale > 1 else value
    try:
        size = int(float(number) * scale)
    except ValueError:
        raise BadInput(f"not a size: {text!r}", hint="use e.g. 500M or 2G") from None
    if size <= 0:
        raise BadInput(f"not a size: {text!r}", hint="use e.g. 500M or 2G")
    return size


def format_size(size: int) -> str:
    for unit, scale in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.3g} {unit}B"
    return f"{size} B"


def import_events(
    store: Store, lines: Iterable[str], *, source: str = "input", max_bytes: int = DEFAULT_IMPORT_LIMIT
) -> tuple[str, int]:
    """Load one session exported with `sessions export --format events`. Redacted again on the way in.
    Returns (session id, events imported).

    Streams: lines are checked and inserted IMPORT_BATCH at a time, so memory does not grow with the
    file. The whole import is still one transaction: a bad line, a gap in seq or input over `max_bytes`
    anywhere rolls everything back."""
    redactor = default_redactor()
    conn = store.connect()
    session_id: str | None = None
    count = read = 0
    batch: list[Event] = []
    try:
        with write_transaction(conn):
            for number, line in enumerate(lines, 1):
                read += len(line)
                if read > max_bytes:
                    raise BadInput(
                        f"{source} is larger than the import limit ({format_size(max_bytes)})",
                        hint="raise it with: intern-tui sessions import --max-size 4G FILE",
                    )
                if not line.strip():
                    continue
                event = _parse_line(redactor, line, source, number)
                if session_id is None:
                    session_id = check_session_id(event.session_id)
                    # inside the transaction: two imports of the same session can't both pass this
                    if conn.execute("SELECT 1 FROM sessions WHERE id = ?", (session_id,)).fetchone():
                        raise BadInput(
                            f"session {session_id} already exists in this store",
                            hint="delete it first or import into another --home",
                        )
                elif event.session_id != session_id:
                    raise BadInput(
                        f"{source}:{number}: a second session ({event.session_id!r} after {session_id!r});"
                        " import one session per file"
                    )
                if event.seq != count + 1:
                    raise BadInput(
                        f"{source}:{number}: seq {event.seq} where {count + 1} was expected: events must be"
                        " the complete log (seq 1, 2, 3… without gaps)"
                    )
                count += 1
                batch.append(event)
                if len(batch) >= IMPORT_BATCH:
                    insert_events(conn, batch)
                    batch = []
            if session_id is None:
                raise BadInput(f"{source} holds no events")
            if batch:
                insert_events(conn, batch)
    finally:
        conn.close()
    return session_id, count


def _parse_line(redactor, line: str, source: str, number: int) -> Event:
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
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BadInput(
            f"{source}:{number}: not an intern-tui event ({exc})",
            hint="export with: intern-tui sessions export ID --format events",
        ) from exc
    if event.kind not in KINDS:
        raise BadInput(f"{source}:{number}: unknown event kind {event.kind!r}")
    event.payload_json = dumps(event.payload)
    return event


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
    """The session's model turns as a script: policy, one {"thought", "code", "step"} per line, plus the
    step's approval `decisions` (in the order they were asked) so a re-run decides them the same way.
    Returns the number of turns."""
    from ..agent.memory import rebuild_memory

    turns = rebuild_memory(iter_events(conn, session_id, kinds=[Kind.MODEL_OUTPUT, Kind.CODE_ACTION])).turns
    decisions = recorded_decisions(conn, session_id)
    for turn in turns:
        if decisions.get(turn.get("step")):
            turn = {**turn, "decisions": decisions[turn["step"]]}
        out.write(json.dumps(turn, ensure_ascii=False) + "\n")
    return len(turns)


# Decisions not worth replaying: the run stopped (interrupt) or a later start gave the request up (recovery).
_NOT_REPLAYED = frozenset({"interrupt", "recovery"})


def recorded_decisions(conn: sqlite3.Connection, session_id: str) -> dict[int, list[dict[str, Any]]]:
    """{step: [decision, …]} of a session's approvals, in the order they were requested."""
    requested: dict[str, Any] = {}
    by_step: dict[int, list[dict[str, Any]]] = {}
    for e in iter_events(conn, session_id, kinds=[Kind.APPROVAL_REQUESTED, Kind.APPROVAL_DECIDED]):
        p = e.payload
        if e.kind == Kind.APPROVAL_REQUESTED:
            requested[p.get("id")] = (e.step, p)
            continue
        step, asked = requested.pop(p.get("id"), (e.step, {}))
        if step is None or p.get("decided_by") in _NOT_REPLAYED:
            continue
        decision = {
            "tool": p.get("tool"),
            "decision": p.get("decision"),
            "status": p.get("status"),
            "reason": p.get("reason"),
            "decided_by": p.get("recorded_by") or p.get("decided_by"),
            "arguments": asked.get("arguments"),
        }
        if p.get("edited") is not None:
            decision["edited"] = p["edited"]
        by_step.setdefault(step, []).append(decision)
    return by_step


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
