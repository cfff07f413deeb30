"""The one-line status header: what session, which model, what state, how far, how long, how much."""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import Static

from ...display import display_model
from ...store.titles import derive_title
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
    "max_steps": "MAX STEPS",
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
    "max_steps": "bold $warning",
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


def fmt_window(n: int) -> str:
    """32768 → 32k, 128000 → 128k, 1048576 → 1024k: windows are round numbers, shown as such."""
    return f"{n // 1024}k" if n % 1024 == 0 else f"{round(n / 1000)}k"


def token_meter(model: SessionModel, at: int | None = None) -> str:
    """tok 210k↑ 8k↓ $1.42 — '~' when some usage was estimated, 'cost unknown' when a price is missing."""
    tokens_in, tokens_out, cost = model.tokens.at(at)
    approx = "~" if model.tokens_estimated.at(at) else ""
    text = f"tok {approx}{fmt_tokens(tokens_in)}↑ {approx}{fmt_tokens(tokens_out)}↓"
    if model.cost_unknown.at(at):
        return text + (f" ≥${cost:.2f}" if cost else " cost unknown")
    return text + (f" ${cost:.2f}" if cost else "")


def context_meter(model: SessionModel, at: int | None = None) -> str | None:
    prompt, window, source = model.context.at(at)
    if not window:
        return None
    return f"ctx {fmt_tokens(prompt)}/{fmt_window(window)}" + (" (assumed)" if source == "default" else "")


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
        width = (self.size.width or 100) - 2
        title, tail = fit_header(
            width - len(label) - 4,
            title=model.title or derive_title(model.task) or "new session",
            model_name=display_model(model.model),
            step=f"step {model.step.at(at)}/{model.max_steps or '?'}",
            tokens=token_meter(model, at),
            context=context_meter(model, at),
            elapsed=fmt_duration(model.elapsed(at, now=time.time())),
            extra=self.extra,
            sandbox=f"sandbox:{ISOLATION_LABELS.get(model.isolation, model.isolation)}"
            if model.isolation
            else "",
        )
        text = Text.assemble(
            (f" {label} ", self._style(status)),
            "  ",
            (title, "bold"),
            "  " if title else "",
            (tail, "italic"),
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


def fit_header(
    room: int,
    *,
    title: str,
    model_name: str,
    step: str,
    tokens: str,
    context: str | None,
    elapsed: str,
    extra: str,
    sandbox: str = "",
) -> tuple[str, str]:
    """(title, facts) for `room` columns. The model and the token meter always stay: the mirror message
    is shortened first (then dropped), then the elapsed time and the context meter go, then the task
    title shrinks; only on a very narrow terminal is the model id itself shortened."""
    shown = {
        "elapsed": elapsed,
        "context": context or "",
        "extra": extra if len(extra) <= 40 else extra[:39] + "…",
        "sandbox": sandbox,
    }
    min_title = min(24, max(12, room // 5))

    def facts() -> str:
        parts = [
            model_name,
            step,
            shown["elapsed"],
            tokens,
            shown["context"],
            shown["sandbox"],
            shown["extra"],
        ]
        return "  ".join(p for p in parts if p)

    def fits() -> bool:
        return len(facts()) + 2 + min_title <= room

    if not fits() and shown["extra"]:
        spare = room - 2 - min_title - (len(facts()) - len(shown["extra"]))
        shown["extra"] = shown["extra"][: spare - 1] + "…" if spare >= 12 else ""
    if not fits():
        shown["elapsed"] = ""
    if not fits():
        shown["context"] = shown["context"].replace(" (assumed)", "?")
    if not fits():
        shown["context"] = ""
    if not fits() and not sandbox.endswith("!"):  # a missing sandbox stays in sight; a working one may go
        shown["sandbox"] = ""
    text = facts()
    space = room - len(text) - 2
    title = "" if space < 8 else (title if len(title) <= space else title[: space - 1] + "…")
    if len(text) > room and len(model_name) > 9:
        cut = max(8, len(model_name) - (len(text) - room) - 1)
        text = text.replace(model_name, model_name[:cut] + "…", 1)
    return title, text
