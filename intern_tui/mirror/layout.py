"""What the mirror writes into the dataset, and where.

```
README.md                                   dataset card (tags, configs → the traces)
sessions/<id>/trace.jsonl                   Claude Code JSONL trace (rewritten as the session grows)
sessions/<id>/meta.json                     id, task, model, status, timestamps, steps, parent
sessions/<id>/events/<from>-<to>.jsonl      the event log, one immutable shard per increment
sessions/<id>/workspace/<path>              the session's text files (only with upload_workspace)
```
Every file's text goes through `Redactor.sub` once more right before it becomes bytes (`to_bytes`):
ingestion already redacted, this is the second line of defence.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from .. import __version__
from ..redact import Redactor
from ..store.queries import iter_events
from .trace import iso, scrubbed_json, trace_lines

CARD_VERSION = 1
TRACE_GLOB = "sessions/*/trace.jsonl"
WORKSPACE_MAX_FILE = 2_000_000  # bytes; bigger files (checkpoints, datasets) stay local
WORKSPACE_MAX_TOTAL = 50_000_000


def session_dir(session_id: str) -> str:
    return f"sessions/{session_id}"


def shard_path(session_id: str, from_seq: int, to_seq: int) -> str:
    # Zero-padded so the listing sorts in seq order.
    return f"{session_dir(session_id)}/events/{from_seq:08d}-{to_seq:08d}.jsonl"


def to_bytes(text: str, redactor: Redactor) -> bytes:
    """The single exit for uploaded content: scrubbed, then encoded."""
    return redactor.sub(text).encode("utf-8")


def shard_text(
    conn: sqlite3.Connection, session_id: str, from_seq: int, to_seq: int, redactor: Redactor
) -> str:
    lines = [
        scrubbed_json(event.to_dict(), redactor, fallback=_withheld_event)
        for event in iter_events(conn, session_id, after_seq=from_seq - 1, upto_seq=to_seq)
    ]
    return "".join(line + "\n" for line in lines)


def trace_text(conn: sqlite3.Connection, session_id: str, upto_seq: int, redactor: Redactor) -> str:
    return "".join(line + "\n" for line in trace_lines(conn, session_id, redactor, upto_seq))


def meta_text(conn: sqlite3.Connection, session_id: str, pushed_seq: int) -> str:
    """meta.json: derived from the database only (no upload time), so a re-push writes the same bytes."""
    row = conn.execute(
        "SELECT id, task, model, status, title, started_at, ended_at, updated_at, steps, max_steps, parent_id,"
        " fork_step, final_answer, tokens_in, tokens_out, cost_usd FROM sessions WHERE id = ?",
        (session_id,),
    ).fetchone()
    keys = (
        "id task model status title started_at ended_at updated_at steps max_steps parent_id fork_step"
        " final_answer tokens_in tokens_out cost_usd"
    ).split()
    meta: dict[str, Any] = dict(zip(keys, row, strict=True)) if row else {"id": session_id}
    for key in ("started_at", "ended_at", "updated_at"):
        if meta.get(key):
            meta[key] = iso(meta[key])
    meta["parent"] = meta.pop("parent_id", None)
    meta["events"] = pushed_seq
    meta["trace"] = "trace.jsonl"
    meta["intern_tui_version"] = __version__
    return json.dumps(meta, ensure_ascii=False, indent=2, default=str) + "\n"


def workspace_files(workspace: Path) -> tuple[list[tuple[str, str]], list[str]]:
    """(relative path, text) of the workspace's text files, and the paths skipped (binary or too big:
    only what can be scrubbed is uploaded)."""
    files: list[tuple[str, str]] = []
    skipped: list[str] = []
    total = 0
    if not workspace.is_dir():
        return files, skipped
    for path in sorted(p for p in workspace.rglob("*") if p.is_file() and not p.is_symlink()):
        rel = path.relative_to(workspace).as_posix()
        size = path.stat().st_size
        if size > WORKSPACE_MAX_FILE or total + size > WORKSPACE_MAX_TOTAL:
            skipped.append(rel)
            continue
        try:
            text = path.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            skipped.append(rel)
            continue
        if "\x00" in text:
            skipped.append(rel)
            continue
        files.append((rel, text))
        total += size
    return files, skipped


def card_text(repo_id: str) -> str:
    """The dataset card: tags that make the Hub list it as agent traces, and a config over the traces
    only (the event shards have another schema)."""
    return f"""---
pretty_name: "intern-tui sessions"
tags:
- agent-traces
- claude-code
- hf-agent-trace-viewer
- intern-tui
configs:
- config_name: default
  data_files:
  - split: train
    path: "{TRACE_GLOB}"
---

# intern-tui sessions

Sessions of intern-tui, an ML-engineering agent for LLM post-training, mirrored from the machine that
ran them to `{repo_id}`.

- `sessions/<id>/trace.jsonl`: the session as a Claude-Code-style trace (open it in the Agent Trace Viewer).
- `sessions/<id>/meta.json`: task, model, status, timestamps, steps, parent session.
- `sessions/<id>/events/*.jsonl`: the complete event log in shards of consecutive `seq` numbers
  (`intern-tui sessions export ID --format events` gives the same lines).

Secrets are redacted before events are stored and once more before upload. This is automated,
best-effort scrubbing, not a review: **keep this dataset private** unless you have read what is in it.
"""


def _withheld_event(record: dict[str, Any]) -> dict[str, Any]:
    return {**record, "payload": {"redaction_failed": True}}
