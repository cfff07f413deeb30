"""The overview: every session running in its own process on this box, at a glance, approvable from here.

One row per live session (status, step, GPU use of its jobs, latest metric, pending approvals); below the
table, what the selected session waits for. `a` approves and `d` denies its oldest request — over the
session's socket, so the rule that exactly one decision is recorded holds however many windows decide —
and `enter` switches this window to that session. The rows are read in a worker once a second from the
store (bounded queries: the cost does not grow with history) and from each session's liveness lock.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label, Static

from ..controller import SwitchSession
from ..widgets.approvals import estimate_text
from ..widgets.header import display_model
from .modals import ReasonModal
from .sessions import selected_row

REFRESH_S = 1.0
COLUMNS = ("session", "status", "step", "GPU", "metric", "waiting", "task")


def live_overview(home: Path, conn) -> list[dict[str, Any]]:
    """The overview rows: sessions whose process is alive now, newest first."""
    from ...host import live_sessions
    from ...store.queries import session_overview

    return [session_overview(conn, sid) for sid in live_sessions(home, conn)]


def gpu_text(gpu: dict[str, Any] | None) -> str:
    if not gpu or gpu.get("state") != "ok" or not gpu.get("gpus"):
        return "—"
    util = f"{gpu['util']:.0f}%" if gpu.get("util") is not None else "?"
    mem = f" {gpu['mem_used'] / 2**30:.0f}/{gpu['mem_total'] / 2**30:.0f}G" if gpu.get("mem_total") else ""
    return f"{gpu['gpus']}× {util}{mem}"


def metric_text(metric: dict[str, Any] | None) -> str:
    if not metric:
        return "—"
    return f"{metric['name']} {metric['value']:.4g} @{metric['step']}"


def request_text(request: dict[str, Any]) -> str:
    """One pending request in full: tool, every argument, the estimate."""
    args = request.get("arguments") or {}
    lines = [f"{request['tool']} (step {request.get('step') or '?'})"]
    for key, value in args.items():
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        first, _, rest = str(shown).partition("\n")
        lines.append(f"  {key} = {first}" + (f"  (+{rest.count(chr(10)) + 1} lines)" if rest else ""))
    cost = estimate_text(request.get("estimate") or {})
    if cost:
        lines.append(f"  cost: {cost}")
    return "\n".join(lines)


class OverviewScreen(Screen):
    DEFAULT_CSS = """
    OverviewScreen #overview-title { padding: 0 1; text-style: bold; }
    OverviewScreen DataTable { height: 1fr; }
    OverviewScreen #overview-detail { height: auto; max-height: 50%; border: round $warning; padding: 0 1; }
    OverviewScreen #overview-detail.-empty { border: round $panel; }
    """
    BINDINGS = [
        Binding("a", "approve", "Approve", id="overview.approve"),
        Binding("d", "deny", "Deny", id="overview.deny"),
        Binding("enter", "open", "Open", id="overview.open", priority=True),
        Binding("escape,w", "close", "Back", id="overview.close"),
    ]

    def __init__(self, home: Path, store, current: str | None = None):
        super().__init__()
        self.home = Path(home)
        self.store = store
        self.current = current  # the session this window shows
        self.rows: list[dict[str, Any]] = []
        self.loaded = False

    def compose(self) -> ComposeResult:
        yield Label("Sessions running now — loading…", id="overview-title")
        table = DataTable(id="overview-table", cursor_type="row", zebra_stripes=True)
        table.add_columns(*COLUMNS)
        yield table
        yield Static("", id="overview-detail", classes="-empty")
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_rows()
        self.set_interval(REFRESH_S, self.refresh_rows)
        self.query_one(DataTable).focus()

    @work(thread=True, exclusive=True, group="overview")
    def refresh_rows(self) -> None:
        conn = self.store.connect()
        try:
            rows = live_overview(self.home, conn)
        finally:
            conn.close()
        self.app.call_from_thread(self._show, rows)

    def _show(self, rows: list[dict[str, Any]]) -> None:
        self.loaded = True
        keep = self.selected()
        self.rows = rows
        table = self.query_one(DataTable)
        table.clear()
        for r in rows:
            mark = "▶ " if r["id"] == self.current else ""
            step = f"{r['steps'] or 0}" + (f"/{r['max_steps']}" if r.get("max_steps") else "")
            waiting = Text(f"{len(r['pending'])} ⚠", style="bold yellow") if r["pending"] else Text("")
            task = " ".join((r.get("title") or r.get("task") or "").split())
            table.add_row(
                mark + r["id"],
                r["status"],
                step,
                gpu_text(r["gpu"]),
                metric_text(r["metric"]),
                waiting,
                task[:60] + ("…" if len(task) > 60 else ""),
                key=r["id"],
            )
        if keep is not None and any(r["id"] == keep["id"] for r in rows):
            table.move_cursor(row=table.get_row_index(keep["id"]))
        waiting = sum(1 for r in rows if r["pending"])
        title = self.query_one("#overview-title", Label)
        if not rows:
            title.update("No session is running in its own process — start one with intern-tui run --detach")
        else:
            title.update(
                f"Sessions running now: {len(rows)}"
                + (f" · {waiting} waiting for you" if waiting else "")
                + " — a approve · d deny · enter open · esc back"
            )
        self._show_detail()

    def selected(self) -> dict[str, Any] | None:
        return selected_row(self.query_one(DataTable), self.rows)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        detail = self.query_one("#overview-detail", Static)
        row = self.selected()
        if row is None or not row["pending"]:
            detail.set_class(True, "-empty")
            detail.border_title = None
            detail.update("Nothing waiting" + (f" in {row['id']}" if row else ""))
            return
        detail.set_class(False, "-empty")
        model = display_model(row.get("model") or "")
        detail.border_title = f"{row['id']} ({model}) waits for you: {len(row['pending'])}"
        detail.update("\n".join(request_text(p) for p in row["pending"]))

    # -- actions -----------------------------------------------------------------------------------------

    def action_approve(self) -> None:
        row = self.selected()
        if row and row["pending"]:
            self._decide(row["id"], row["pending"][0]["id"], "approve", None)

    def action_deny(self) -> None:
        row = self.selected()
        if not row or not row["pending"]:
            return
        request = row["pending"][0]

        def reasoned(reason: str | None) -> None:
            if reason is not None:
                self._decide(row["id"], request["id"], "deny", reason or None)

        self.app.push_screen(ReasonModal(request["tool"]), reasoned)

    @work(thread=True, group="overview-decide")
    def _decide(self, session_id: str, request_id: str, decision: str, reason: str | None) -> None:
        """Over the session's socket (or this window's own session): the session records the decision."""
        from ...errors import InternError
        from ...host.client import SessionClient

        app = self.app
        own = getattr(app, "supervisor", None)
        try:
            if own is not None and getattr(own, "session_id", None) == session_id:
                recorded = own.decide(request_id, decision, reason)
            else:
                client = SessionClient(self.home, session_id)
                try:
                    recorded = client.decide(request_id, decision, reason)
                finally:
                    client.close()
        except InternError as exc:
            app.call_from_thread(app.notify, exc.message, severity="error")
            return
        verb = "approved" if decision == "approve" else "denied"
        message = f"{verb} in {session_id}" if recorded else f"{session_id}: already decided elsewhere"
        app.call_from_thread(app.notify, message, timeout=3)
        self.refresh_rows()

    def action_open(self) -> None:
        row = self.selected()
        if row is None:
            return
        if row["id"] == self.current:
            self.app.pop_screen()
            return
        self.post_message(SwitchSession(row["id"]))

    def action_close(self) -> None:
        self.app.pop_screen()
