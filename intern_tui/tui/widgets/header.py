"""The one-line status header: what session, which model, what state, how far, how long, how much."""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import Static

from ...agent.models import display_model
from ..state import SessionModel

STATUS_LABELS = {
    "starting": "STARTING",
    "running": "RUNNING",
    "pausing": "PAUSING",
    "paused": "PAUSED",
    "waiting": "WAITING FOR APPROVAL",
    "done": "DONE",
    "failed": "FAILED",
    "interrupted": "INTERRUPTED",
    "interrupting": "INTERRUPTING",
}
STATUS_STYLES = {
    "running": "bold $success",
    "starting": "bold $secondary",
    "pausing": "bold $warning",
    "paused": "bold $warning",
    "waiting": "bold reverse $warning",
    "done": "bold $primary",
    "failed": "bold reverse $error",
    "interrupted": "bold $error",
    "interrupting": "bold $error",
}


# How the agent's code is isolated (sandbox/isolation.py); "process" means no OS-level fence.
ISOLATION_LABELS = {"bubblewrap": "bwrap", "process": "process-only!"}


def fmt_duration(seconds: float) -> str:
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def fmt_tokens(n: int) -> str:
    return f"{n / 1_000_000:.1f}M" if n >= 1_000_000 else f"{n / 1000:.1f}k" if n >= 1000 else str(n)


class StatusHeader(Static):
    DEFAULT_CSS = """
    StatusHeader { height: 1; background: $panel; color: $foreground; padding: 0 1; }
    """

    def __init__(self, **kw):
        super().__init__("", **kw)
        self.mode = "live"
        self.extra = ""  # e.g. mirror status, replay position

    def render_model(self, model: SessionModel, at: int | None = None) -> None:
        status = model.status.at(at)
        label = STATUS_LABELS.get(status, status.upper())
        if self.mode == "replay":
            label = f"REPLAY · {label}"
        tokens_in, tokens_out, cost = model.tokens.at(at)
        facts = [
            display_model(model.model),
            f"step {model.step.at(at)}/{model.max_steps or '?'}",
            fmt_duration(model.elapsed(at, now=time.time())),
            f"tok {fmt_tokens(tokens_in)}↑ {fmt_tokens(tokens_out)}↓" + (f" ${cost:.2f}" if cost else ""),
        ]
        if model.isolation:
            facts.append(f"sandbox:{ISOLATION_LABELS.get(model.isolation, model.isolation)}")
        if self.extra:
            facts.append(self.extra)
        tail = "  ".join(facts)
        width = (self.size.width or 100) - 2
        room = width - len(label) - 2 - 2 - len(tail) - 2
        title = " ".join((model.task or "new session").split())
        if room < 12:  # narrow: the task goes first, then the least useful facts
            facts = facts[1:3]
            tail = "  ".join(facts)
            room = width - len(label) - 6 - len(tail)
        if len(title) > max(room, 8):
            title = title[: max(room, 8) - 1] + "…"
        text = Text.assemble(
            (f" {label} ", self._style(status)), "  ", (title, "bold"), "  ", (tail, "italic")
        )
        if text.plain != getattr(self, "_last_plain", None) or self.mode == "replay":
            self._last_plain = text.plain
            self.update(
                text, layout=False
            )  # fixed height: a relayout per tick would repaint the whole screen

    def _style(self, status: str) -> str:
        raw = STATUS_STYLES.get(status, "bold")
        variables = self.app.theme_variables if self.is_mounted else {}
        return " ".join(
            variables.get(part[1:], "white") if part.startswith("$") else part for part in raw.split()
        )
