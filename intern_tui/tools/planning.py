"""The agent's todo list: `plan(items)` replaces it, keeps it in `ctx.plan` and emits a `plan` event.

The event payload is `{"items": [{"text": str, "status": "pending"|"in_progress"|"done"}, ...]}`; the TUI
shows the latest one and replay reconstructs it from the log.
"""

from __future__ import annotations

import re
from typing import Any

from ..events import Kind
from .base import ToolContext, ToolError, agent_tool

STATUSES = ("pending", "in_progress", "done")
_ALIASES = {
    "todo": "pending",
    "to do": "pending",
    "open": "pending",
    "not started": "pending",
    "planned": "pending",
    "in progress": "in_progress",
    "in-progress": "in_progress",
    "doing": "in_progress",
    "active": "in_progress",
    "running": "in_progress",
    "started": "in_progress",
    "current": "in_progress",
    "completed": "done",
    "complete": "done",
    "finished": "done",
    "ok": "done",
    "success": "done",
}
_CHECKBOX = re.compile(r"^\s*(?:[-*]\s*)?\[([ xX~>/-]?)\]\s*(.*)$")
_MARKS = {"pending": "[ ]", "in_progress": "[>]", "done": "[x]"}
MAX_ITEMS = 50
MAX_TEXT = 300


def _status(raw: Any, index: int) -> str:
    if raw is None or raw == "":
        return "pending"
    if isinstance(raw, bool):
        return "done" if raw else "pending"
    value = str(raw).strip().lower()
    value = _ALIASES.get(value, value.replace(" ", "_"))
    if value not in STATUSES:
        raise ToolError(f"item {index + 1}: status {raw!r} is not one of {', '.join(STATUSES)}")
    return value


def _item(raw: Any, index: int) -> dict[str, str]:
    if isinstance(raw, str):
        m = _CHECKBOX.match(raw)  # "[x] done thing", "- [ ] next thing", "[>] current thing"
        if m:
            mark = m.group(1).lower()
            status = "done" if mark == "x" else "in_progress" if mark in ("~", ">", "/", "-") else "pending"
            text = m.group(2)
        else:
            status, text = "pending", raw
    elif isinstance(raw, dict):
        text = raw.get("item", raw.get("text", raw.get("task", raw.get("content", raw.get("title")))))
        status = _status(raw.get("status", raw.get("state", raw.get("done"))), index)
    else:
        raise ToolError(
            f"item {index + 1} is a {type(raw).__name__}; give a string or {{'text': …, 'status': …}}"
        )
    if not isinstance(text, str) or not text.strip():
        raise ToolError(f"item {index + 1} has no text; give a string or {{'text': …, 'status': …}}")
    text = " ".join(text.split())
    if len(text) > MAX_TEXT:
        text = text[: MAX_TEXT - 1] + "…"
    return {"text": text, "status": status}


def render_plan(items: list[dict[str, Any]]) -> str:
    if not items:
        return "Plan is empty."
    done = sum(1 for i in items if i["status"] == "done")
    lines = [f"Plan ({done}/{len(items)} done):"]
    lines += [f"{_MARKS[i['status']]} {i['text']}" for i in items]
    return "\n".join(lines)


@agent_tool(output_type="string")
def plan(ctx: ToolContext, items: list | str | None = None) -> str:
    """Write your todo list (it replaces the previous one) so the human can follow your progress.

    Args:
        items: The whole list, in order: strings ('[x] inspect data', '[>] smoke test', 'evaluate') or
            dicts {'text': ..., 'status': 'pending' | 'in_progress' | 'done'}. A single string is read one
            item per line. Leave it out to see the current plan.
    """
    if items is None:
        return render_plan(ctx.plan)
    if isinstance(items, str):
        items = [line for line in items.splitlines() if line.strip()]
    if isinstance(items, tuple):
        items = list(items)
    if not isinstance(items, list):
        raise ToolError("items must be a list of strings or {'text', 'status'} dicts")
    if len(items) > MAX_ITEMS:
        raise ToolError(
            f"{len(items)} items is too many for a plan; keep it under {MAX_ITEMS} (group small steps)"
        )
    parsed = [_item(raw, i) for i, raw in enumerate(items)]
    ctx.plan = parsed
    ctx.emit(Kind.PLAN, {"items": [dict(i) for i in parsed]})
    return render_plan(parsed)
