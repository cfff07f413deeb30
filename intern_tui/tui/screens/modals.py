"""Modal screens: the full approval request, deny-with-reason, edit-then-approve, confirmations, a whole
step, and the help screen that lists the active keymap."""

from __future__ import annotations

import json
from typing import Any

from rich.markdown import Markdown
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static, TextArea

from ...display import cost_facts, ordered_arguments
from ..state import ApprovalItem, StreamItem
from ..widgets.approvals import estimate_text

MODAL_CSS = """
ModalScreen { align: center middle; background: $background 60%; }
ModalScreen > Vertical { width: 90%; max-width: 120; height: auto; max-height: 90%; border: thick $primary;
                         background: $surface; padding: 1 2; }
ModalScreen .title { text-style: bold; margin-bottom: 1; }
ModalScreen .hint { color: $text-muted; margin-top: 1; }
ModalScreen Horizontal.buttons { height: auto; margin-top: 1; }
ModalScreen Button { margin-right: 1; }
ModalScreen VerticalScroll { height: auto; max-height: 30; }
ModalScreen TextArea { height: 20; }
"""


class ApprovalModal(ModalScreen[tuple[str, str | None, dict | None] | None]):
    """The whole request, scrollable (↑ ↓ pgup pgdn): tool, cost, guard flags, every argument in full, the
    script's diff against the last approved version. Returns (decision, reason, edited) or None."""

    DEFAULT_CSS = (
        MODAL_CSS
        + """
    ApprovalModal > Vertical { height: 90%; }
    ApprovalModal VerticalScroll { height: 1fr; max-height: 100%; }
    """
    )
    BINDINGS = [
        Binding("a", "decide('approve')", "approve", id="modal.approve"),
        Binding("A", "decide('always')", "always", id="modal.always"),
        Binding("d", "decide('deny')", "deny", id="modal.deny"),
        Binding("e", "decide('edit')", "edit", id="modal.edit"),
        Binding("escape", "dismiss(None)", "close", id="modal.close"),
    ]

    def __init__(self, item: ApprovalItem, read_only: bool = False, at: int | None = None):
        super().__init__()
        self.item = item
        self.read_only = read_only
        self.at = at  # replay: the request as of this event (pending then, even if decided later)

    def compose(self) -> ComposeResult:
        item = self.item
        with Vertical():
            yield Label(f"{item.tool} — approval {'record' if self.read_only else 'needed'}", classes="title")
            with VerticalScroll(id="approval-detail"):
                yield Static(request_renderable(item, self.at))
            yield Label(
                "↑↓ scroll · esc close"
                if self.read_only
                else "a approve · A always · d deny · e edit · ↑↓ scroll · esc close",
                classes="hint",
            )

    def on_mount(self) -> None:
        self.query_one("#approval-detail", VerticalScroll).focus()

    def action_decide(self, decision: str) -> None:
        if self.read_only:
            return
        if decision == "deny":
            self.app.push_screen(ReasonModal(self.item.tool), lambda reason: self._deny(reason))
        elif decision == "edit":
            self.app.push_screen(EditModal(self.item.arguments), lambda edited: self._edit(edited))
        else:
            self.dismiss((decision, None, None))

    def _deny(self, reason: str | None) -> None:
        if reason is not None:
            self.dismiss(("deny", reason or None, None))

    def _edit(self, edited: dict | None) -> None:
        if edited is not None:
            self.dismiss(("edit", None, edited))


def request_renderable(item: ApprovalItem, at: int | None = None):
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    table.add_row("tool", item.tool)
    table.add_row("step", str(item.step or "-"))
    facts = cost_facts(item.arguments, item.estimate)
    if facts:
        table.add_row("cost", " · ".join(facts))
    table.add_row("estimate", estimate_text(item.estimate) or "—")
    for flag in item.estimate.get("flags") or []:
        table.add_row(Text("⚠ guard", style="bold red"), Text(flag, style="bold red"))
    if item.status_at(at) != "pending":
        table.add_row(
            "decision",
            f"{item.status} ({item.decision}, by {item.decided_by})"
            + (f": {item.reason}" if item.reason else ""),
        )
        if item.edited is not None:
            table.add_row(
                "edited", Text(json.dumps(item.edited, ensure_ascii=False, indent=2, sort_keys=True))
            )
    for key in ordered_arguments(item.arguments):  # every argument, in full
        value = item.arguments[key]
        if (
            isinstance(value, str)
            and ("\n" in value or key in ("script", "content", "code"))
            and len(value) > 60
        ):
            table.add_row(
                key, Syntax(value, "python", theme="ansi_dark", background_color="default", word_wrap=True)
            )
        else:
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
            table.add_row(key, Text(text))
    if (
        item.pinned
    ):  # what will run: the snapshot taken when this was asked, and what changed since the last one
        pinned = item.pinned
        if pinned.get("kind") == "upload":
            files = pinned.get("files") or []
            table.add_row(
                "uploads", f"exactly these {len(files)} files (sha256:{pinned.get('sha256', '')[:16]}…)"
            )
            table.add_row("files", "\n".join(files))
            return table
        table.add_row(
            "runs",
            Text(
                f"snapshot sha256:{pinned.get('sha256', '')} ({len(pinned.get('files') or [])} .py files)",
                overflow="fold",
            ),
        )
        if pinned.get("diff"):
            if pinned.get("previous_sha256"):
                table.add_row(
                    "against", Text(f"last approved sha256:{pinned['previous_sha256']}", overflow="fold")
                )
            label = "diff" if pinned.get("previous_sha256") else "new script"
            table.add_row(
                label,
                Syntax(pinned["diff"], "diff", theme="ansi_dark", background_color="default", word_wrap=True),
            )
        elif pinned.get("note"):
            table.add_row("diff", pinned["note"])
    return table


class ReasonModal(ModalScreen[str | None]):
    """Deny with an optional reason (the agent reads it). Enter confirms, escape cancels."""

    DEFAULT_CSS = MODAL_CSS
    BINDINGS = [Binding("escape", "dismiss(None)", "cancel", id="reason.cancel")]

    def __init__(self, tool: str):
        super().__init__()
        self.tool = tool

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(
                f"Deny {self.tool}: why? (the agent reads this; enter to deny, esc to cancel)",
                classes="title",
            )
            yield Input(placeholder="e.g. use a smaller model for the smoke test", id="reason")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip())


class EditModal(ModalScreen[dict | None]):
    """Edit the request's arguments as JSON, then approve with ctrl+s."""

    DEFAULT_CSS = MODAL_CSS
    BINDINGS = [
        Binding("ctrl+s", "save", "approve edited", id="edit.save", priority=True),
        Binding("escape", "dismiss(None)", "cancel", id="edit.cancel"),
    ]

    def __init__(self, arguments: dict[str, Any]):
        super().__init__()
        self.arguments = arguments

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(
                "Edit the arguments (JSON), ctrl+s approves the edited request, esc cancels", classes="title"
            )
            yield TextArea(json.dumps(self.arguments, indent=2, ensure_ascii=False), id="edit-args")
            yield Label("", id="edit-error", classes="hint")

    def action_save(self) -> None:
        text = self.query_one("#edit-args", TextArea).text
        try:
            edited = json.loads(text)
            if not isinstance(edited, dict):
                raise ValueError("the arguments must be a JSON object")
        except ValueError as exc:
            self.query_one("#edit-error", Label).update(Text(f"Not valid: {exc}", style="bold red"))
            return
        self.dismiss(edited)


class ConfirmModal(ModalScreen[bool]):
    DEFAULT_CSS = MODAL_CSS
    BINDINGS = [
        Binding("y", "dismiss(True)", "yes", id="confirm.yes"),
        Binding("n,escape", "dismiss(False)", "no", id="confirm.no"),
    ]

    def __init__(self, question: str, detail: str = ""):
        super().__init__()
        self.question = question
        self.detail = detail

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question, classes="title")
            if self.detail:
                yield Static(self.detail)
            with Horizontal(classes="buttons"):
                yield Button("Yes (y)", id="yes", variant="warning")
                yield Button("No (n)", id="no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class QuitModal(ModalScreen[str | None]):
    """Quitting a window attached to a session process: detach (the default), stop the session, or stay."""

    DEFAULT_CSS = MODAL_CSS
    BINDINGS = [
        Binding("d,enter", "dismiss('detach')", "detach", id="quit.detach"),
        Binding("s", "dismiss('stop')", "stop the session", id="quit.stop"),
        Binding("escape", "dismiss(None)", "stay", id="quit.cancel"),
    ]

    def __init__(self, session_id: str):
        super().__init__()
        self.session_id = session_id

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Quit — session {self.session_id} is still running", classes="title")
            yield Static(
                "Detach: the session goes on in its own process (jobs too); attach again with "
                f"intern-tui attach {self.session_id}.\nStop: the agent stops after its current step; the "
                "session stays resumable. Training jobs keep running either way."
            )
            with Horizontal(classes="buttons"):
                yield Button("Detach (d)", id="detach", variant="primary")
                yield Button("Stop session (s)", id="stop", variant="warning")
                yield Button("Stay (esc)", id="stay")

    def on_mount(self) -> None:
        self.query_one("#detach", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss({"detach": "detach", "stop": "stop"}.get(event.button.id or ""))


class StepModal(ModalScreen[None]):
    """Everything one step produced, unabridged."""

    DEFAULT_CSS = MODAL_CSS + "StepModal VerticalScroll { max-height: 40; }"
    BINDINGS = [Binding("escape,o,q", "dismiss(None)", "close", id="step.close")]

    def __init__(self, step: int | None, items: list[StreamItem]):
        super().__init__()
        self.step = step
        self.items = items

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Step {self.step}", classes="title")
            with VerticalScroll():
                for item in self.items:
                    if item.kind == "thought":
                        yield Static(Markdown(item.text))
                    elif item.kind == "code":
                        yield Static(
                            Syntax(
                                item.text,
                                "python",
                                theme="ansi_dark",
                                background_color="default",
                                word_wrap=True,
                            )
                        )
                    elif item.kind in ("observation", "error"):
                        yield Static(Text(item.text, style="red" if item.kind == "error" else ""))
                    else:
                        yield Static(Text(item.text, style="dim"))
            yield Label("esc close", classes="hint")


class HelpScreen(ModalScreen[None]):
    """The active keymap (including the user's remaps from config.toml)."""

    DEFAULT_CSS = MODAL_CSS
    BINDINGS = [Binding("escape,question_mark,q", "dismiss(None)", "close", id="help.close")]

    def __init__(self, rows: list[tuple[str, str, str]]):
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        table = Table(box=None, padding=(0, 2), header_style="bold")
        table.add_column("key")
        table.add_column("action")
        table.add_column("binding id", style="dim")
        for keys, description, binding_id in self.rows:
            table.add_row(keys, description, binding_id)
        with Vertical():
            yield Label(Text("Keys (remap any binding id in config.toml under [keymap])"), classes="title")
            with VerticalScroll():
                yield Static(table, id="help-table")
            yield Label("ctrl+p opens the command palette · esc closes", classes="hint")


class RedirectModal(ModalScreen[str | None]):
    """Type an instruction the agent receives before its next step."""

    DEFAULT_CSS = MODAL_CSS
    BINDINGS = [Binding("escape", "dismiss(None)", "cancel", id="redirect.cancel")]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(
                "Redirect the agent — delivered before its next step (enter sends, esc cancels)",
                classes="title",
            )
            yield Input(placeholder="e.g. stop GRPO; run SFT with lr 1e-5 first", id="redirect-input")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)
