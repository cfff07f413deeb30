"""Compare runs: choose which curves the metrics pane overlays — any of this session's jobs, and jobs of
other sessions read from the store (`c` in the metrics pane).

Another session's job joins the book under the label `<session>:<job>`; its records are read once, from
the `metrics` table (one row per logged step), so opening the chooser costs one query per session.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, SelectionList
from textual.widgets.selection_list import Selection

from ...store.queries import job_metric_rows, recent_job_metrics

OTHER_SESSIONS = 12  # the most recent other sessions offered


@dataclass(frozen=True)
class Run:
    key: str  # the series label: a job id for this session, "<session>:<job>" for another
    session_id: str | None
    job_id: str
    about: str


def other_runs(conn: sqlite3.Connection, current: str | None, limit: int = OTHER_SESSIONS) -> list[Run]:
    """Jobs with metrics from the most recent other sessions (newest first)."""
    rows = recent_job_metrics(conn, current, limit)
    runs = []
    for session_id, job_id, steps, script, task in rows:
        about = f"{script or 'job'} · {steps} steps · {' '.join(task.split())[:50]}"
        runs.append(Run(f"{session_id}:{job_id}", session_id, job_id, about))
    return runs


def load_run(conn: sqlite3.Connection, run: Run) -> list[tuple[int, dict[str, float]]]:
    """(step, values) of one job of another session, in step order."""
    rows = job_metric_rows(conn, run.session_id, run.job_id)
    out = []
    for step, metrics in rows:
        try:
            values = json.loads(metrics)
        except ValueError:
            continue
        out.append((int(step or 0), {k: v for k, v in values.items() if isinstance(v, int | float)}))
    return out


class CompareModal(ModalScreen[set[str] | None]):
    """Tick the runs to overlay; enter applies, escape cancels. Returns the chosen keys."""

    DEFAULT_CSS = """
    CompareModal { align: center middle; background: $background 60%; }
    CompareModal > Vertical { width: 90%; max-width: 110; height: auto; max-height: 85%;
                              border: thick $primary; background: $surface; padding: 1 2; }
    CompareModal SelectionList { height: auto; max-height: 24; }
    CompareModal .hint { color: $text-muted; margin-top: 1; }
    """
    BINDINGS = [
        Binding("enter", "apply", "apply", id="compare.apply", priority=True),
        Binding("escape", "cancel", "cancel", id="compare.cancel"),
    ]

    def __init__(self, runs: list[Run], chosen: set[str]):
        super().__init__()
        self.runs = runs
        self.chosen = chosen

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Compare runs: the curves to overlay in the metrics pane", classes="title")
            yield SelectionList[str](
                *[Selection(f"{r.key}  [dim]{r.about}[/]", r.key, r.key in self.chosen) for r in self.runs],
                id="compare-runs",
            )
            yield Label("space ticks · enter applies · escape cancels", classes="hint")

    def on_mount(self) -> None:
        self.query_one(SelectionList).focus()

    def action_apply(self) -> None:
        self.dismiss(set(self.query_one(SelectionList).selected))

    def action_cancel(self) -> None:
        self.dismiss(None)
