"""The session browser: every past session, searchable, with replay / resume / fork / delete."""

from __future__ import annotations

import time
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Input, Label

from ...store.queries import list_sessions
from ..controller import ForkSession, OpenReplay, ResumeSession
from ..widgets.header import display_model, fmt_duration
from .modals import MODAL_CSS, ConfirmModal

_MOVES = {"up": "cursor_up", "down": "cursor_down", "pageup": "page_up", "pagedown": "page_down"}
# The title second: on an 80-column terminal it is what tells sessions apart (the table scrolls for the rest).
COLUMNS = ("id", "title", "status", "steps", "started", "duration", "model", "pending")
TITLE_WIDTH = 36


def selected_row(table: DataTable, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The row (of `rows`, keyed by "id") under the table's cursor."""
    if not table.row_count:
        return None
    key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
    return next((r for r in rows if r["id"] == key), None)


def _matches(row: dict[str, Any], query: str) -> bool:
    """Every word must match: `status:done`, `model:gpt`, or free text over id, task, model and status."""
    for word in query.lower().split():
        field, _, value = word.partition(":")
        if value and field in ("status", "model", "id", "task", "title"):
            if value not in str(row.get(field) or "").lower():
                return False
        elif not any(
            word in str(row.get(k) or "").lower() for k in ("id", "title", "task", "model", "status")
        ):
            return False
    return True


class ForkModal(ModalScreen[tuple[int, str | None, str | None] | None]):
    DEFAULT_CSS = MODAL_CSS
    BINDINGS = [Binding("escape", "dismiss(None)", "cancel", id="fork.cancel")]

    def __init__(self, session_id: str, steps: int, model: str):
        super().__init__()
        self.session_id, self.steps, self.model = session_id, steps, model

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Fork {self.session_id}: keep its first N steps, then continue", classes="title")
            yield Input(value=str(self.steps), placeholder=f"step (0–{self.steps})", id="fork-step")
            yield Input(placeholder="new instruction (optional)", id="fork-instruction")
            yield Input(value=self.model, placeholder="model", id="fork-model")
            yield Label("enter in any field starts the fork · esc cancels", classes="hint")
            yield Label("", id="fork-error", classes="hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        try:
            step = int(self.query_one("#fork-step", Input).value)
        except ValueError:
            self.query_one("#fork-error", Label).update("the step must be a number")
            return
        instruction = self.query_one("#fork-instruction", Input).value.strip() or None
        model = self.query_one("#fork-model", Input).value.strip() or None
        self.dismiss((step, instruction, model))


class RenameModal(ModalScreen[str | None]):
    """A new title for a session (enter saves, esc cancels)."""

    DEFAULT_CSS = MODAL_CSS
    BINDINGS = [Binding("escape", "dismiss(None)", "cancel", id="rename.cancel")]

    def __init__(self, session_id: str, title: str):
        super().__init__()
        self.session_id, self.title_now = session_id, title

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Rename {self.session_id} (enter saves, esc cancels)", classes="title")
            yield Input(value=self.title_now, placeholder="a short title", id="rename-input")
            yield Label("", id="rename-error", classes="hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        from ...errors import BadInput
        from ...store.titles import clean_title

        try:
            self.dismiss(clean_title(event.value))
        except BadInput as exc:
            self.query_one("#rename-error", Label).update(exc.message)


class SessionBrowser(Screen):
    DEFAULT_CSS = """
    SessionBrowser Input { dock: top; margin: 0 1; }
    SessionBrowser DataTable { height: 1fr; }
    SessionBrowser #browser-title { padding: 0 1; text-style: bold; }
    """
    BINDINGS = [
        Binding("enter", "replay", "Replay", id="browser.replay", priority=True),
        Binding("ctrl+r", "resume", "Resume", id="browser.resume", priority=True),
        Binding("ctrl+f", "fork", "Fork", id="browser.fork", priority=True),
        Binding("ctrl+d", "delete", "Delete", id="browser.delete", priority=True),
        Binding("ctrl+t", "rename", "Rename", id="browser.rename", priority=True),
        Binding("escape", "close", "Back", id="browser.close"),
    ]

    def __init__(self, store):
        super().__init__()
        self.store = store
        self.rows: list[dict[str, Any]] = []

    def compose(self) -> ComposeResult:
        yield Label("Sessions — type to filter (e.g. `status:done sft`)", id="browser-title")
        yield Input(placeholder="filter: title, task, model, status, id", id="browser-filter")
        table = DataTable(id="browser-table", cursor_type="row", zebra_stripes=True)
        table.add_columns(*COLUMNS)
        yield table
        yield Footer()

    def on_mount(self) -> None:
        self.reload()
        self.query_one(Input).focus()

    def reload(self) -> None:
        """Read the sessions in a worker (a big store takes a while); the table fills in when they come."""
        self.query_one("#browser-title", Label).update("Sessions — loading…")
        self._load_rows()

    @work(thread=True, exclusive=True, group="browser-list")
    def _load_rows(self) -> None:
        conn = self.store.connect()
        try:
            rows = list_sessions(conn)
        finally:
            conn.close()
        self.app.call_from_thread(self._show_rows, rows)

    def _show_rows(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.render_rows()

    def render_rows(self) -> None:
        query = self.query_one(Input).value
        table = self.query_one(DataTable)
        table.clear()
        now = time.time()
        shown = 0
        for r in self.rows:
            if query and not _matches(r, query):
                continue
            end = r["ended_at"] or (
                r["updated_at"] if r["status"] not in ("running", "paused", "waiting") else now
            )
            started = time.strftime("%m-%d %H:%M", time.localtime(r["started_at"])) if r["started_at"] else ""
            title = " ".join((r["title"] or r["task"] or "").split())
            table.add_row(
                r["id"],
                title[: TITLE_WIDTH - 1] + "…" if len(title) > TITLE_WIDTH else title,
                r["status"],
                str(r["steps"] or 0),
                started,
                fmt_duration((end or 0) - (r["started_at"] or 0)) if r["started_at"] else "",
                display_model(r["model"])[:28],
                str(r["pending_approvals"] or ""),
                key=r["id"],
            )
            shown += 1
        title = self.query_one("#browser-title", Label)
        if not self.rows:
            title.update("No sessions yet — start one with intern-tui demo")
        elif not shown:
            title.update(f"No session matches {query!r} (of {len(self.rows)}) — esc goes back")
        else:
            title.update(f"Sessions ({shown} of {len(self.rows)}) — type to filter (e.g. `status:done sft`)")

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        """Resume and fork start an agent here: not in a replay-only window."""
        if action in ("resume", "fork") and getattr(self.app, "replay_id", None) is not None:
            return False
        return True

    def on_input_changed(self, event: Input.Changed) -> None:
        self.render_rows()

    def selected(self) -> dict[str, Any] | None:
        return selected_row(self.query_one(DataTable), self.rows)

    def on_key(self, event) -> None:
        # arrows move the table even while the filter has focus
        if event.key in _MOVES:
            getattr(self.query_one(DataTable), f"action_{_MOVES[event.key]}")()
            event.stop()

    def action_replay(self) -> None:
        if row := self.selected():
            self.post_message(OpenReplay(row["id"]))

    def action_resume(self) -> None:
        if row := self.selected():
            self.post_message(ResumeSession(row["id"], row["status"]))

    def action_fork(self) -> None:
        if row := self.selected():
            self.app.push_screen(
                ForkModal(row["id"], row["steps"] or 0, row["model"] or ""),
                lambda result: result and self.post_message(ForkSession(row["id"], *result)),
            )

    def action_rename(self) -> None:
        row = self.selected()
        if row is None:
            return
        self.app.push_screen(
            RenameModal(row["id"], row["title"] or ""),
            lambda title: title and self._rename(row["id"], title),
        )

    @work(thread=True, group="browser-rename")
    def _rename(self, session_id: str, title: str) -> None:
        """Off the UI thread: a live session is renamed through its own process (a socket call)."""
        from ...errors import InternError
        from ...host import rename_session

        sup = getattr(self.app, "supervisor", None)
        try:
            if sup is not None and getattr(sup, "session_id", None) == session_id and sup.running:
                sup.rename(title)  # the session this window runs or is attached to
                flush = getattr(getattr(self.app, "runtime", None), "writer", None)
                if flush is not None:
                    flush.flush()
            else:
                rename_session(self.store, session_id, title)
        except InternError as exc:
            self.app.call_from_thread(self.app.notify, exc.message, severity="error")
            return
        self.app.call_from_thread(self._renamed, session_id, title)

    def _renamed(self, session_id: str, title: str) -> None:
        self.app.notify(f"{session_id}: {title}", timeout=3)
        self.reload()

    def action_delete(self) -> None:
        row = self.selected()
        if row is None:
            return

        def confirmed(yes: bool) -> None:
            if yes:
                self.app.notify(f"deleting {row['id']}…", timeout=2)
                self._delete(row["id"])

        self.app.push_screen(
            ConfirmModal(
                f"Delete session {row['id']}?",
                "Its events, approvals, files and workspace folder are removed. This cannot be undone.",
            ),
            confirmed,
        )

    @work(thread=True, group="browser-delete")
    def _delete(self, session_id: str) -> None:
        """Off the UI thread: deleting a long session rewrites many rows and removes its workspace."""
        from ...errors import InternError
        from ...store.transfer import delete_session

        try:
            delete_session(self.store, session_id)
        except InternError as exc:
            self.app.call_from_thread(self.app.notify, exc.message, severity="error")
            return
        self.app.call_from_thread(self._deleted, session_id)

    def _deleted(self, session_id: str) -> None:
        self.app.notify(f"deleted {session_id}")
        self.reload()

    def action_close(self) -> None:
        self.app.pop_screen()
