"""`intern-tui sessions list|show|export`."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from ..display import display_model
from ..errors import BadInput
from ..store import Store
from ..store.queries import (
    format_step_stats,
    iter_events,
    list_sessions,
    resolve_session_id,
    session_detail,
)


def run(args: argparse.Namespace, store: Store) -> int:
    if args.action == "import":
        return _import(store, args.file, getattr(args, "max_size", "1G"))
    conn = store.connect()
    try:
        if args.action == "list":
            return _list(conn, args, store.home)
        if args.action == "delete":
            return _delete(store, resolve_session_id(conn, args.id), args)
        session_id = resolve_session_id(conn, args.id)
        if args.action == "show":
            return _show(conn, session_id, args)
        if args.action == "rename":
            return _rename(store, session_id, args.title)
        if args.action == "export":
            return export(conn, session_id, args.format, args.output)
    finally:
        conn.close()
    return 2


def _list(conn, args: argparse.Namespace, home: Path) -> int:
    from ..host import live_host

    rows = list_sessions(conn, args.limit)
    for r in rows:  # live: its session process is running now (attach to it)
        r["live"] = r["status"] in ("running", "paused", "waiting") and live_host(home, r["id"]) is not None
    if args.json:
        keys = (
            "id",
            "title",
            "task",
            "model",
            "status",
            "started_at",
            "ended_at",
            "steps",
            "event_count",
            "pending_approvals",
            "parent_id",
            "live",
        )
        print(json.dumps([{k: r[k] for k in keys} for r in rows], ensure_ascii=False))
        return 0
    if not rows:
        print("No sessions yet. Start one with: intern-tui demo")
        return 0
    header = f"{'ID':<17} {'STATUS':<11} {'STEPS':>5}  {'STARTED':<16}  {'MODEL':<24} TITLE"
    print(header)
    for r in rows:
        model = _clip(display_model(r["model"]), 24)
        pending = f" [{r['pending_approvals']} pending]" if r["pending_approvals"] else ""
        status = r["status"] + ("*" if r["live"] else "")
        print(
            f"{r['id']:<17} {status:<11} {r['steps'] or 0:>5}  {_when(r['started_at']):<16}  {model:<24} "
            f"{_one_line(r['title'] or r['task'], 60)}{pending}"
        )
    if any(r["live"] for r in rows):
        print("\n* running in a session process now: intern-tui attach ID")
    return 0


def _show(conn, session_id: str, args: argparse.Namespace) -> int:
    d = session_detail(conn, session_id)
    if args.json:
        print(json.dumps(d, ensure_ascii=False, default=str))
        return 0
    out = sys.stdout
    out.write(f"session   {d['id']}   {d['status']}\n")
    if d.get("title"):
        out.write(f"title     {d['title']}\n")
    out.write(f"task      {_one_line(d['task'], 200)}\n")
    out.write(f"model     {d['model']}\n")
    out.write(f"started   {_when(d['started_at'])}   ended {_when(d['ended_at']) or '-'}   {_duration(d)}\n")
    out.write(
        f"steps     {d['steps']}/{d['max_steps'] or '?'}   events {d['event_count']}"
        f"   tokens {d['tokens_in']}/{d['tokens_out']}\n"
    )
    if d["parent_id"]:
        out.write(f"forked    from {d['parent_id']} at step {d['fork_step']}\n")
    if d["workspace"]:
        out.write(f"workspace {d['workspace']}\n")
    if d["approvals"]:
        out.write("approvals\n")
        for a in d["approvals"]:
            reason = f" — {a['reason']}" if a["reason"] else ""
            how = {"always": " (always)", "edit": " (edited)", "auto": f" ({a['decided_by']})"}.get(
                a["decision"], ""
            )
            if a["decided_by"] == "replay":
                how += " (replayed)"
            out.write(f"  step {a['step'] or '-':>3}  {a['tool']:<14} {a['status'] + how:<20}{reason}\n")
    if d["jobs"]:
        out.write("jobs\n")
        for j in d["jobs"]:
            code = "" if j["exit_code"] is None else f" exit {j['exit_code']}"
            out.write(f"  {j['id']:<12} {j['backend']:<6} {j['status']:<10}{code}  {j['script'] or ''}\n")
    if d["files"]:
        out.write("files\n")
        for f in d["files"]:
            out.write(f"  {f['path']}  (v{f['versions']})\n")
    if d["step_stats"]:
        out.write("steps (time · tools · tokens in/out · cost)\n")
        for row in d["step_stats"]:
            out.write(f"  step {row['step']:>3}  {format_step_stats(row)}\n")
    if d["final_answer"]:
        out.write(f"answer    {_one_line(d['final_answer'], 400)}\n")
    return 0


def _rename(store: Store, session_id: str, title: str) -> int:
    from ..host import rename_session

    title = rename_session(store, session_id, title)
    print(f"{session_id}: {title}")
    return 0


def export(conn, session_id: str, fmt: str, output: str | None) -> int:
    """Write the export to `output` atomically (temp file then rename), or to stdout."""
    if output is None:
        _write_export(conn, session_id, fmt, sys.stdout)
        return 0
    target = Path(output).expanduser()
    tmp = target.with_name(f".{target.name}.partial")
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            _write_export(conn, session_id, fmt, fh)
        tmp.replace(target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise BadInput(
            f"cannot write {target}: {exc.strerror or exc}", hint="choose another -o path"
        ) from exc
    print(f"wrote {target}", file=sys.stderr)
    return 0


def _write_export(conn, session_id: str, fmt: str, out: TextIO) -> None:
    if fmt == "events":
        for event in iter_events(conn, session_id):
            out.write(event.to_json())
            out.write("\n")
    elif fmt == "script":
        from ..store.transfer import export_script

        export_script(conn, session_id, out)
    elif fmt == "trace":
        from ..mirror import export_trace

        export_trace(conn, session_id, out)
    else:
        raise BadInput(f"unknown export format {fmt!r}")


def _import(store: Store, source: str, max_size: str = "1G") -> int:
    from ..store.transfer import format_size, import_events, parse_size

    limit = parse_size(max_size)
    if source == "-":
        session_id, count = import_events(store, sys.stdin, source="stdin", max_bytes=limit)
    else:
        path = Path(source).expanduser()
        try:
            size = path.stat().st_size if path.is_file() else 0
            if size > limit:  # say so before reading a byte
                raise BadInput(
                    f"{path} is {format_size(size)}, larger than the import limit ({format_size(limit)})",
                    hint=f"raise it with: intern-tui sessions import --max-size {-(-size // (1 << 30))}G {source}",
                )
            with path.open(encoding="utf-8") as fh:
                session_id, count = import_events(store, fh, source=str(path), max_bytes=limit)
        except OSError as exc:
            raise BadInput(f"cannot read {path}: {exc.strerror or exc}") from exc
        except UnicodeDecodeError as exc:
            raise BadInput(
                f"{path} is not UTF-8 text", hint="export with: intern-tui sessions export ID"
            ) from exc
    print(f"imported session {session_id} ({count} events) — open it with: intern-tui replay {session_id}")
    return 0


def _delete(store: Store, session_id: str, args: argparse.Namespace) -> int:
    from ..store.transfer import delete_session

    if not args.yes:
        if not sys.stdin.isatty():
            raise BadInput(f"refusing to delete {session_id} without confirmation", hint="add --yes")
        answer = input(f"delete session {session_id} and its workspace? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("nothing deleted")
            return 1
    delete_session(store, session_id, workspace=not args.keep_workspace)
    print(f"deleted {session_id}")
    return 0


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else ""


def _duration(d: dict[str, Any]) -> str:
    if not d["started_at"]:
        return ""
    end = d["ended_at"] or d["updated_at"] or d["started_at"]
    seconds = int(end - d["started_at"])
    return f"({seconds // 3600}h{seconds % 3600 // 60:02d}m{seconds % 60:02d}s)"


def _one_line(text: str | None, width: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"
