"""Read-side queries used by the CLI, the TUI's session browser, replay and the mirror."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

from ..errors import BadInput
from ..events import Event, Kind

SESSION_COLUMNS = (
    "id, task, model, status, title, started_at, ended_at, updated_at, steps, max_steps, event_count,"
    " final_answer, error, parent_id, fork_step, workspace, tokens_in, tokens_out, cost_usd"
)


def _dicts(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def list_sessions(conn: sqlite3.Connection, limit: int | None = None) -> list[dict[str, Any]]:
    """All sessions, newest first, with the number of pending approvals."""
    sql = (
        f"SELECT {SESSION_COLUMNS}, (SELECT count(*) FROM approvals a WHERE a.session_id = s.id"
        " AND a.status = 'pending') AS pending_approvals FROM sessions s ORDER BY started_at DESC, id DESC"
    )
    if limit:
        sql += f" LIMIT {int(limit)}"
    return _dicts(conn.execute(sql))


def active_session_ids(conn: sqlite3.Connection) -> list[str]:
    """Sessions whose status says a process may be running them (running, paused, waiting), newest first."""
    return [
        row[0]
        for row in conn.execute(
            "SELECT id FROM sessions WHERE status IN ('running', 'paused', 'waiting')"
            " ORDER BY started_at DESC, id DESC"
        )
    ]


def resolve_session_id(conn: sqlite3.Connection, ref: str) -> str:
    """A full session id from an id or a unique prefix of one; BadInput when unknown or ambiguous."""
    ref = ref.strip()
    if ref in ("last", "latest"):
        row = conn.execute("SELECT id FROM sessions ORDER BY started_at DESC, id DESC LIMIT 1").fetchone()
        if row:
            return row[0]
        raise BadInput("there are no sessions yet", hint="start one with: intern-tui demo")
    exact = conn.execute("SELECT id FROM sessions WHERE id = ?", (ref,)).fetchone()
    if exact:
        return exact[0]
    like = ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    matches = [
        r[0] for r in conn.execute("SELECT id FROM sessions WHERE id LIKE ? ESCAPE '\\' LIMIT 6", (like,))
    ]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise BadInput(f"no session with id {ref!r}", hint="list them with: intern-tui sessions list")
    raise BadInput(
        f"session id {ref!r} is ambiguous: {', '.join(matches[:5])}{'…' if len(matches) > 5 else ''}",
        hint="type more characters of the id",
    )


def get_session(conn: sqlite3.Connection, session_id: str) -> dict[str, Any]:
    rows = _dicts(conn.execute(f"SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?", (session_id,)))
    if not rows:
        raise BadInput(f"no session with id {session_id!r}", hint="list them with: intern-tui sessions list")
    return rows[0]


def session_detail(conn: sqlite3.Connection, session_id: str) -> dict[str, Any]:
    """Everything `sessions show --json` prints."""
    detail = get_session(conn, session_id)
    detail["approvals"] = [
        {**row, "arguments": _loads(row["arguments"]), "edited": _loads(row["edited"])}
        for row in _dicts(
            conn.execute(
                "SELECT id, step, tool, status, decision, reason, decided_by, arguments, edited, requested_at,"
                " decided_at FROM approvals WHERE session_id = ? ORDER BY requested_seq",
                (session_id,),
            )
        )
    ]
    detail["jobs"] = _dicts(
        conn.execute(
            "SELECT id, backend, script, status, exit_code, started_at, ended_at, remote_id, url, log_path, error"
            " FROM jobs WHERE session_id = ? ORDER BY started_at",
            (session_id,),
        )
    )
    detail["files"] = _dicts(
        conn.execute(
            "SELECT path, max(version) AS versions, max(ts) AS updated_at FROM files WHERE session_id = ?"
            " GROUP BY path ORDER BY path",
            (session_id,),
        )
    )
    detail["event_count"] = conn.execute(
        "SELECT count(*) FROM events WHERE session_id = ?", (session_id,)
    ).fetchone()[0]
    detail["step_stats"] = step_stats(conn, session_id)
    return detail


def step_stats(conn: sqlite3.Connection, session_id: str) -> list[dict[str, Any]]:
    """Per step: how long it took (`duration_s`), each tool call's run time (`tool_durations`, in call
    order), the tokens its model calls used and their cost (None when the price is unknown)."""
    steps: dict[int, dict[str, Any]] = {}

    def of(step: int) -> dict[str, Any]:
        return steps.setdefault(
            step,
            {"step": step, "duration_s": None, "tool_durations": [], "tokens": {"input": 0, "output": 0},
             "cost": 0.0, "cost_estimated": False},
        )  # fmt: skip

    kinds = (Kind.TOOL_RESULT, Kind.TOKEN_USAGE, Kind.OBSERVATION)
    for e in iter_events(conn, session_id, kinds=kinds):
        if e.step is None:
            continue
        p, row = e.payload, of(e.step)
        if e.kind == Kind.TOOL_RESULT:
            row["tool_durations"].append(
                {"tool": p.get("tool"), "duration_s": p.get("duration_s"), "error": bool(p.get("error"))}
            )
        elif e.kind == Kind.TOKEN_USAGE:
            row["tokens"]["input"] += int(p.get("input_tokens") or 0)
            row["tokens"]["output"] += int(p.get("output_tokens") or 0)
            if p.get("cost_usd") is None:
                row["cost"] = None
            elif row["cost"] is not None:
                row["cost"] = round(row["cost"] + float(p["cost_usd"]), 6)
            row["cost_estimated"] = row["cost_estimated"] or bool(p.get("estimated"))
        elif p.get("duration_s") is not None:
            row["duration_s"] = p["duration_s"]
    return [steps[k] for k in sorted(steps)]


def iter_events(
    conn: sqlite3.Connection,
    session_id: str,
    *,
    after_seq: int = 0,
    upto_seq: int | None = None,
    kinds: Iterable[str] | None = None,
    batch: int = 5000,
) -> Iterator[Event]:
    """Events of a session in seq order, read in pages so huge sessions stream in constant memory."""
    kinds = list(kinds) if kinds else None
    last = after_seq
    while True:
        sql = "SELECT session_id, seq, ts, kind, step, payload FROM events WHERE session_id = ? AND seq > ?"
        args: list[Any] = [session_id, last]
        if upto_seq is not None:
            sql += " AND seq <= ?"
            args.append(upto_seq)
        if kinds:
            sql += f" AND kind IN ({','.join('?' * len(kinds))})"
            args.extend(kinds)
        sql += " ORDER BY seq LIMIT ?"
        args.append(batch)
        rows = conn.execute(sql, args).fetchall()
        for row in rows:
            yield Event.from_row(row)
        if len(rows) < batch:
            return
        last = rows[-1][1]


def _loads(text: str | None) -> Any:
    return json.loads(text) if text else None


OVERVIEW_METRICS = ("reward", "loss", "eval_loss", "kl")  # the first one a job reports is its headline


def session_overview(conn: sqlite3.Connection, session_id: str) -> dict[str, Any]:
    """One row of the overview of live sessions: where the session stands, its pending approvals, the
    latest training metric and the GPUs its jobs use. Each read is bounded (indexed, LIMIT 1), so the cost
    does not grow with the session's history."""
    row = get_session(conn, session_id)
    row["pending"] = [
        {**r, "arguments": _loads(r["arguments"]), "estimate": _loads(r["estimate"])}
        for r in _dicts(
            conn.execute(
                "SELECT id, step, tool, arguments, estimate, requested_at FROM approvals"
                " WHERE session_id = ? AND status = 'pending' ORDER BY requested_seq",
                (session_id,),
            )
        )
    ]
    row["metric"] = None
    last = conn.execute(  # the newest job's latest logged step (both lookups on primary keys)
        "SELECT job_id, step, metrics FROM metrics WHERE job_id = (SELECT id FROM jobs WHERE session_id = ?"
        " ORDER BY started_at DESC LIMIT 1) ORDER BY step DESC LIMIT 1",
        (session_id,),
    ).fetchone()
    if last is not None:
        values = _loads(last[2]) or {}
        name = next((n for n in OVERVIEW_METRICS if isinstance(values.get(n), int | float)), None)
        if name is not None:
            row["metric"] = {"job_id": last[0], "step": last[1], "name": name, "value": values[name]}
    row["running_jobs"] = conn.execute(
        "SELECT count(*) FROM jobs WHERE session_id = ? AND status IN ('starting', 'running')", (session_id,)
    ).fetchone()[0]
    row["gpu"] = None
    sample = conn.execute(
        "SELECT payload FROM events WHERE session_id = ? AND kind = 'gpu_sample' ORDER BY rowid DESC LIMIT 1",
        (session_id,),
    ).fetchone()
    if sample is not None:
        row["gpu"] = gpu_summary(_loads(sample[0]) or {})
    return row


def gpu_summary(snapshot: dict[str, Any]) -> dict[str, Any]:
    """The GPUs a session's jobs run on (all GPUs when none is attributed): mean utilisation, memory."""
    gpus = snapshot.get("gpus") or []
    mine = [g for g in gpus if any(p.get("job_id") for p in g.get("processes") or [])]
    chosen = mine or gpus
    utils = [g["util_gpu"] for g in chosen if isinstance(g.get("util_gpu"), int | float)]
    used = sum(g.get("mem_used") or 0 for g in chosen)
    total = sum(g.get("mem_total") or 0 for g in chosen)
    return {
        "state": snapshot.get("state"),
        "gpus": len(chosen),
        "attributed": bool(mine),
        "util": sum(utils) / len(utils) if utils else None,
        "mem_used": used,
        "mem_total": total,
    }


def pending_requests(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every request waiting for a person, in any session, oldest first."""
    return _dicts(
        conn.execute(
            "SELECT id, session_id, tool, step, requested_at FROM approvals WHERE status = 'pending'"
            " ORDER BY requested_at"
        )
    )


ELIDED = "elided"  # the kind of a history row folded without its payload (an old GPU sample)


def log_tail_starts(
    conn: sqlite3.Connection, session_id: str, keep_lines: int, upto_seq: int | None = None
) -> dict[str, int]:
    """Per job: the seq of its oldest log chunk still among its last `keep_lines` lines. Older chunks
    need not be read to show the log as a live window keeps it (SQLite counts the lines, in C)."""
    sql = (
        "SELECT seq, json_extract(payload, '$.job_id'), coalesce(json_array_length(payload, '$.lines'), 1)"
        " FROM events WHERE session_id = ? AND kind = 'job_log'"
    )
    args: list[Any] = [session_id]
    if upto_seq is not None:
        sql += " AND seq <= ?"
        args.append(upto_seq)
    # Newest first, and done once every job of the session has its tail (most sessions: a few pages).
    jobs = {row[0] for row in conn.execute("SELECT id FROM jobs WHERE session_id = ?", (session_id,))}
    starts: dict[str, int] = {}
    seen: dict[str, int] = {}
    full = 0
    for seq, job_id, lines in conn.execute(sql + " ORDER BY seq DESC", args):
        had = seen.get(job_id, 0)
        if had < keep_lines:
            seen[job_id] = had + lines
            starts[job_id] = seq
            if had + lines >= keep_lines and job_id in jobs:
                full += 1
                if full == len(jobs):
                    break
    return starts


def iter_history(
    conn: sqlite3.Connection,
    session_id: str,
    *,
    log_starts: dict[str, int],
    gpu_from: int,
    upto_seq: int | None = None,
    batch: int = 5000,
) -> Iterator[Event]:
    """A session's events in seq order for a live window's history. Log chunks older than every job's
    start in `log_starts` are left out (`log_totals_before` counts them); one older than its own job's
    start comes as `{"job_id", "elided_lines", "progress"}` (counted, not decoded); a GPU sample older
    than `gpu_from` as an ELIDED event. Everything else whole."""
    log_cut = min(log_starts.values(), default=0)
    sql = (
        "SELECT seq, ts, kind, step,"
        " CASE WHEN kind = 'gpu_sample' AND seq < ? THEN NULL ELSE payload END,"
        " CASE WHEN kind = 'job_log' THEN json_extract(payload, '$.job_id') END,"
        " CASE WHEN kind = 'job_log' THEN coalesce(json_array_length(payload, '$.lines'), 1) END,"
        " CASE WHEN kind = 'job_log' THEN json_extract(payload, '$.progress') END"
        " FROM events WHERE session_id = ? AND seq > ? AND NOT (kind = 'job_log' AND seq < ?)"
    )
    if upto_seq is not None:
        sql += f" AND seq <= {int(upto_seq)}"
    sql += " ORDER BY seq LIMIT ?"
    loads = json.loads
    last = 0
    while True:
        rows = conn.execute(sql, (gpu_from, session_id, last, log_cut, batch)).fetchall()
        for seq, ts, kind, step, payload, job_id, lines, progress in rows:
            if kind == "job_log" and seq < log_starts.get(job_id, 0):
                elided = {"job_id": job_id, "elided_lines": lines, "progress": progress}
                yield Event(session_id, seq, ts, kind, step, elided, "")
            elif kind == "gpu_sample" and seq < gpu_from:
                yield Event(session_id, seq, ts, ELIDED, step, {}, "")
            else:
                yield Event(session_id, seq, ts, kind, step, loads(payload), payload)
        if len(rows) < batch:
            return
        last = rows[-1][0]


def log_totals_before(
    conn: sqlite3.Connection, session_id: str, before_seq: int
) -> dict[str, tuple[int, str | None]]:
    """Per job, over its log chunks before `before_seq`: how many lines, and the last progress line."""
    rows = conn.execute(
        "SELECT json_extract(payload, '$.job_id'), sum(coalesce(json_array_length(payload, '$.lines'), 1)),"
        " max(CASE WHEN json_extract(payload, '$.progress') IS NOT NULL THEN seq END)"
        " FROM events WHERE session_id = ? AND kind = 'job_log' AND seq < ? GROUP BY 1",
        (session_id, before_seq),
    ).fetchall()
    totals = {}
    for job_id, lines, progress_seq in rows:
        progress = None
        if progress_seq is not None:
            progress = conn.execute(
                "SELECT json_extract(payload, '$.progress') FROM events WHERE session_id = ? AND seq = ?",
                (session_id, progress_seq),
            ).fetchone()[0]
        totals[job_id] = (int(lines or 0), progress)
    return totals


def gpu_history_start(
    conn: sqlite3.Connection, session_id: str, keep: int, upto_seq: int | None = None
) -> int:
    """The seq of the oldest of the last `keep` GPU samples (0 when there are fewer)."""
    sql = "SELECT seq FROM events WHERE session_id = ? AND kind = 'gpu_sample'"
    args: list[Any] = [session_id]
    if upto_seq is not None:
        sql += " AND seq <= ?"
        args.append(upto_seq)
    rows = conn.execute(sql + " ORDER BY rowid DESC LIMIT ?", (*args, keep)).fetchall()
    return min(r[0] for r in rows) if len(rows) >= keep else 0


def format_step_stats(row: dict[str, Any]) -> str:
    """A step's cost in one line: `4.2 s · launch_job 0.31 s, job_status 0.01 s · 6.3k/120 tok · $0.0042`
    (a `step_stats` row; `~` marks estimated tokens; an unknown price is said, never shown as $0)."""
    took = f"{row['duration_s']:.1f} s" if row.get("duration_s") is not None else "-"
    tools = ", ".join(
        f"{t['tool']} {t['duration_s']:.2f} s" if t.get("duration_s") is not None else str(t["tool"])
        for t in row["tool_durations"]
    )
    tokens = row["tokens"]
    approx = "~" if row.get("cost_estimated") else ""
    cost = "cost unknown" if row["cost"] is None else f"${row['cost']:.4f}"
    return (
        f"{took} · {tools or 'no tools'} · "
        f"{approx}{_tokens(tokens['input'])}/{approx}{_tokens(tokens['output'])} tok · {cost}"
    )


def _tokens(n: int) -> str:
    return f"{n / 1_000_000:.1f}M" if n >= 1_000_000 else f"{n / 1000:.1f}k" if n >= 1000 else str(n)


# -- what the TUI reads (replay, the payloads of bulk kinds, compared runs) ----------------------------------

# The bulk kinds come without their payload: a log chunk needs only its job id (SQLite extracts it), a GPU
# sample nothing; both are read back by seq (`payloads_by_seq`) when a pane shows them.
_LIGHT_ROWS = (
    "SELECT seq, ts, kind, step,"
    " CASE WHEN kind IN ('job_log', 'gpu_sample') THEN NULL ELSE payload END,"
    " CASE WHEN kind = 'job_log' THEN json_extract(payload, '$.job_id') END"
    " FROM events WHERE session_id = ? AND seq > ? ORDER BY seq LIMIT ?"
)


def light_event_batches(
    conn: sqlite3.Connection, session_id: str, first: int, size: int
) -> Iterator[list[Event]]:
    """A session's stored events in seq order, `first` of them, then `size` at a time (keyset pages, so no
    read holds the database for long). `job_log` and `gpu_sample` events come without their payload
    (a log chunk keeps its job id, and its `payload_json` is empty)."""
    last, limit = 0, first
    loads = json.loads
    while True:
        rows = conn.execute(_LIGHT_ROWS, (session_id, last, limit)).fetchall()
        if not rows:
            return
        yield [
            Event(session_id, seq, ts, kind, step, loads(payload), payload)
            if payload is not None
            else Event(session_id, seq, ts, kind, step, {"job_id": job_id} if job_id else {}, "")
            for seq, ts, kind, step, payload, job_id in rows
        ]
        last, limit = rows[-1][0], size


def last_seq(conn: sqlite3.Connection, session_id: str) -> int:
    """The seq of a session's newest stored event, 0 when none: seqs run 1, 2, 3… with no gap, so this is
    also the count, read from the primary key (count(*) would scan)."""
    return conn.execute("SELECT max(seq) FROM events WHERE session_id = ?", (session_id,)).fetchone()[0] or 0


def payloads_by_seq(conn: sqlite3.Connection, session_id: str, seqs: list[int]) -> Iterator[tuple[int, Any]]:
    """(seq, payload) of the given events of a session (the caller keeps `seqs` to a few hundred)."""
    rows = conn.execute(
        f"SELECT seq, payload FROM events WHERE session_id = ? AND seq IN ({','.join('?' * len(seqs))})",
        (session_id, *seqs),
    )
    for seq, payload in rows:
        yield seq, json.loads(payload)


def recent_job_metrics(conn: sqlite3.Connection, current: str | None, limit: int) -> list[tuple]:
    """(session_id, job_id, logged steps, script, task) of the jobs with metrics in the `limit` most recent
    sessions other than `current`, the most recently logged first."""
    return conn.execute(
        "SELECT m.session_id, m.job_id, count(*), coalesce(j.script, ''), coalesce(s.task, '') "
        "FROM metrics m LEFT JOIN jobs j ON j.id = m.job_id LEFT JOIN sessions s ON s.id = m.session_id "
        "WHERE m.session_id IN (SELECT id FROM sessions WHERE id IS NOT ? ORDER BY started_at DESC LIMIT ?) "
        "GROUP BY m.session_id, m.job_id ORDER BY max(m.seq) DESC",
        (current, limit),
    ).fetchall()


def job_metric_rows(conn: sqlite3.Connection, session_id: str, job_id: str) -> list[tuple[int, str]]:
    """(step, metrics JSON) of one job's logged records, in step order."""
    return conn.execute(
        "SELECT step, metrics FROM metrics WHERE session_id = ? AND job_id = ? ORDER BY step",
        (session_id, job_id),
    ).fetchall()
