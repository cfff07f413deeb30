"""A session's events as a Claude Code JSONL trace, the format the Hugging Face Agent Trace Viewer detects.

Every record has `type` (user | assistant), `message.role`, `message.content` (a string or a list of
text / tool_use / tool_result blocks), a `uuid` chained through `parentUuid` (null for the first),
`sessionId` and an ISO-8601 `timestamp`. The mapping from our events:

- task, delivered redirects → user text
- model_output → assistant text (the thought; the whole output when there is none)
- code_action → assistant tool_use named "python" with input {"code"}; the step's observation → the
  matching user tool_result (is_error when the step failed)
- tool_call / tool_result made from inside the code → a nested tool_use / tool_result pair
- approvals, alerts, doom-loop corrections, interruptions, errors, job ends, session end → user text
  marked `isMeta` (the harness speaking, as Claude Code marks its hook feedback)
- final_answer → assistant text "Final answer: …"

uuids are derived from (session id, seq, part), so regenerating the trace after more events keeps every
earlier record byte-identical: re-uploads never rewrite history.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, TextIO

from ..events import Event, Kind, dumps
from ..redact import Redactor

# Kinds that can produce a trace record (the hot kinds — logs, metrics, GPU samples — never do).
TRACE_KINDS = (
    Kind.SESSION_STARTED,
    Kind.TASK,
    Kind.MODEL_OUTPUT,
    Kind.CODE_ACTION,
    Kind.OBSERVATION,
    Kind.TOOL_CALL,
    Kind.TOOL_RESULT,
    Kind.APPROVAL_REQUESTED,
    Kind.APPROVAL_DECIDED,
    Kind.REDIRECTED,
    Kind.INTERRUPTED,
    Kind.ERROR,
    Kind.ALERT,
    Kind.DOOM_LOOP,
    Kind.JOB_FINISHED,
    Kind.FINAL_ANSWER,
    Kind.SESSION_ENDED,
)
_NAMESPACE = uuid.UUID("6f1c1d2e-9a57-4a43-8a38-6b0d3f1b7e21")
MAX_TEXT = 50_000  # one huge observation must not make the viewer unusable


def iso(ts: float) -> str:
    """Epoch seconds → `2026-01-21T06:19:38.056Z`, as Claude Code writes timestamps."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class TraceBuilder:
    """Turns events, in seq order, into Claude Code records."""

    def __init__(self, session_id: str, model: str | None = None):
        self.session_id = session_id
        self.model = model or ""
        self._parent: str | None = None
        self._open_python: list[str] = []  # tool_use ids of code actions still waiting for an observation
        self._calls: dict[str, str] = {}  # our tool call_id → its tool_use id
        self._approvals: dict[str, dict[str, Any]] = {}

    def feed(self, event: Event) -> list[dict[str, Any]]:
        handler = getattr(self, f"_on_{event.kind}", None)
        return handler(event, event.payload) if handler else []

    # -- record shapes ----------------------------------------------------------------------------

    def _record(self, event: Event, part: int, role: str, content: Any, **extra: Any) -> dict[str, Any]:
        record_id = str(uuid.uuid5(_NAMESPACE, f"{self.session_id}:{event.seq}:{part}"))
        message: dict[str, Any] = {"role": role}
        if role == "assistant":
            message["model"] = self.model
        message["content"] = content
        record = {
            "parentUuid": self._parent,
            "isSidechain": False,
            "userType": "external",
            "sessionId": self.session_id,
            "type": role,
            "message": message,
            "uuid": record_id,
            "timestamp": iso(event.ts),
            **extra,
        }
        self._parent = record_id
        return record

    def _meta(self, event: Event, text: str) -> list[dict[str, Any]]:
        return [self._record(event, 0, "user", _clip(text), isMeta=True)]

    def _tool_use_id(self, event: Event) -> str:
        return f"toolu_{self.session_id}_{event.seq}"

    # -- handlers ---------------------------------------------------------------------------------

    def _on_session_started(self, e: Event, p: dict) -> list[dict]:
        self.model = p.get("model") or self.model
        return []

    def _on_task(self, e: Event, p: dict) -> list[dict]:
        text = _text(p.get("task"))
        return [self._record(e, 0, "user", _clip(text))] if text else []

    def _on_redirected(self, e: Event, p: dict) -> list[dict]:
        if p.get("phase") == "queued":  # it reaches the agent (and the trace) when delivered
            return []
        text = _text(p.get("text"))
        return [self._record(e, 0, "user", _clip(text))] if text else []

    def _on_model_output(self, e: Event, p: dict) -> list[dict]:
        text = _text(p.get("thought")) or _text(p.get("text"))
        return [self._record(e, 0, "assistant", [{"type": "text", "text": _clip(text)}])] if text else []

    def _on_code_action(self, e: Event, p: dict) -> list[dict]:
        tool_id = self._tool_use_id(e)
        self._open_python.append(tool_id)
        block = {"type": "tool_use", "id": tool_id, "name": "python", "input": {"code": _text(p.get("code"))}}
        return [self._record(e, 0, "assistant", [block])]

    def _on_observation(self, e: Event, p: dict) -> list[dict]:
        text, error = _text(p.get("text")), _text(p.get("error"))
        body = "\n".join(part for part in (text, f"Error: {error}" if error else "") if part)
        if not self._open_python:  # e.g. a step whose code could not be parsed: no tool_use to answer
            return self._meta(e, f"[step error] {body}") if body else []
        block = {"type": "tool_result", "tool_use_id": self._open_python.pop(), "content": _clip(body)}
        if error:
            block["is_error"] = True
        return [self._record(e, 0, "user", [block])]

    def _on_tool_call(self, e: Event, p: dict) -> list[dict]:
        tool_id = self._tool_use_id(e)
        if p.get("call_id") is not None:
            self._calls[str(p["call_id"])] = tool_id
        arguments = p.get("arguments")
        block = {
            "type": "tool_use",
            "id": tool_id,
            "name": _text(p.get("tool")) or "tool",
            "input": arguments if isinstance(arguments, dict) else {"arguments": arguments},
        }
        return [self._record(e, 0, "assistant", [block])]

    def _on_tool_result(self, e: Event, p: dict) -> list[dict]:
        tool_id = self._calls.pop(str(p.get("call_id")), None)
        error = _text(p.get("error"))
        body = f"Error: {error}" if error else _text(p.get("result"))
        if tool_id is None:
            return self._meta(e, f"[{p.get('tool') or 'tool'} result] {body}")
        block = {"type": "tool_result", "tool_use_id": tool_id, "content": _clip(body)}
        if error:
            block["is_error"] = True
        return [self._record(e, 0, "user", [block])]

    def _on_approval_requested(self, e: Event, p: dict) -> list[dict]:
        self._approvals[str(p.get("id"))] = p
        estimate = p.get("estimate")
        cost = f" (estimate {dumps(estimate)})" if estimate else ""
        return self._meta(e, f"[approval requested] {p.get('tool')} {dumps(p.get('arguments', {}))}{cost}")

    def _on_approval_decided(self, e: Event, p: dict) -> list[dict]:
        self._approvals.pop(str(p.get("id")), None)
        outcome = p.get("status") or p.get("decision")
        by = f" by {p['decided_by']}" if p.get("decided_by") else ""
        reason = f": {p['reason']}" if p.get("reason") else ""
        return self._meta(e, f"[approval] {p.get('tool')} {outcome}{by}{reason}")

    def _on_alert(self, e: Event, p: dict) -> list[dict]:
        job = f" job {p['job_id']}" if p.get("job_id") else ""
        return self._meta(e, f"[alert {p.get('severity') or 'info'}{job}] {_text(p.get('message'))}")

    def _on_doom_loop(self, e: Event, p: dict) -> list[dict]:
        return self._meta(e, f"[loop detected: {_text(p.get('reason'))}] {_text(p.get('instruction'))}")

    def _on_interrupted(self, e: Event, p: dict) -> list[dict]:
        if p.get("phase") == "requested":
            return []
        return self._meta(e, f"[interrupted] {_text(p.get('reason'))}")

    def _on_error(self, e: Event, p: dict) -> list[dict]:
        if p.get("where") == "step":  # already in the step's tool_result
            return []
        return self._meta(e, f"[error] {_text(p.get('message'))}")

    def _on_job_finished(self, e: Event, p: dict) -> list[dict]:
        code = f" (exit {p['exit_code']})" if p.get("exit_code") is not None else ""
        return self._meta(e, f"[job {p.get('job_id')} {p.get('status') or 'finished'}{code}]")

    def _on_final_answer(self, e: Event, p: dict) -> list[dict]:
        answer = _text(p.get("answer"))
        return [self._record(e, 0, "assistant", [{"type": "text", "text": _clip(f"Final answer: {answer}")}])]

    def _on_session_ended(self, e: Event, p: dict) -> list[dict]:
        error = f": {p['error']}" if p.get("error") else ""
        return self._meta(e, f"[session ended: {p.get('status') or 'done'}{error}]")


def build_trace(events: Iterable[Event], session_id: str, model: str | None = None) -> Iterator[dict]:
    builder = TraceBuilder(session_id, model)
    for event in events:
        yield from builder.feed(event)


def trace_events(conn: sqlite3.Connection, session_id: str, upto_seq: int | None = None) -> Iterator[Event]:
    from ..store.queries import iter_events

    return iter_events(conn, session_id, upto_seq=upto_seq, kinds=[str(k) for k in TRACE_KINDS])


def session_model(conn: sqlite3.Connection, session_id: str) -> str | None:
    row = conn.execute("SELECT model FROM sessions WHERE id = ?", (session_id,)).fetchone()
    return row[0] if row else None


def trace_lines(
    conn: sqlite3.Connection, session_id: str, redactor: Redactor, upto_seq: int | None = None
) -> Iterator[str]:
    """The trace as scrubbed JSON lines (no newline)."""
    records = build_trace(
        trace_events(conn, session_id, upto_seq), session_id, session_model(conn, session_id)
    )
    for record in records:
        yield scrubbed_json(record, redactor, fallback=_withheld)


def export_trace(conn: sqlite3.Connection, session_id: str, out: TextIO) -> int:
    """Write a session's trace (Claude Code JSONL) to `out`; returns the number of records.

    For `intern-tui sessions export ID --format trace`. Secrets are scrubbed again on the way out.
    """
    count = 0
    for line in trace_lines(conn, session_id, Redactor()):
        out.write(line)
        out.write("\n")
        count += 1
    return count


def scrubbed_json(record: dict[str, Any], redactor: Redactor, fallback) -> str:
    """One JSON line with secrets masked in every string, and masked once more as text (a secret that
    only appears once the record is serialised). If that second pass broke the JSON, `fallback(record)`
    replaces it: a record that can't be shown safely is withheld, never sent as it was."""
    line = dumps(redactor.scrub(record))
    clean = redactor.sub(line)
    if clean is line:
        return line
    try:
        json.loads(clean)
        return clean
    except ValueError:
        return redactor.sub(dumps(fallback(record)))


def _withheld(record: dict[str, Any]) -> dict[str, Any]:
    """The record with every free-text value replaced; block types and tool ids (ours) are kept so the
    tool_use/tool_result pairing stays intact."""
    note = "[withheld: could not be redacted safely]"
    content = record.get("message", {}).get("content")
    if isinstance(content, list):
        blocks = []
        for block in content:
            kind = block.get("type")
            if kind == "tool_use":
                blocks.append({**block, "input": {}})
            elif kind == "tool_result":
                blocks.append({**block, "content": note})
            else:
                blocks.append({"type": "text", "text": note})
        content = blocks
    else:
        content = note
    return {**record, "message": {**record.get("message", {}), "content": content}}


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else dumps(value)


def _clip(text: str) -> str:
    if len(text) <= MAX_TEXT:
        return text
    return text[:MAX_TEXT] + f"\n… [{len(text) - MAX_TEXT} characters cut]"
