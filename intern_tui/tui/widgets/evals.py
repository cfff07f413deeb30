"""The Evals pane: the session's benchmark scores, one row per benchmark × model, the base model's score
beside each and the gain over it. Redrawn only when a new `eval_result` arrives (or replay moves)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from ...telemetry.evals import results_table


def _score(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def gain_text(gain: float | None) -> Text:
    if gain is None:
        return Text("—", style="dim")
    style = "bold green" if gain > 0 else "bold red" if gain < 0 else "dim"
    return Text(f"{gain:+.3f}", style=style)


class EvalsPane(Vertical):
    DEFAULT_CSS = """
    EvalsPane > DataTable { height: auto; max-height: 1fr; border: round $panel; background: $surface; }
    EvalsPane > DataTable:focus { border: round $primary; }
    EvalsPane > #evals-empty { padding: 1 2; color: $text-muted; }
    """

    def __init__(self, **kw: Any):
        super().__init__(**kw)
        self._shown: tuple | None = None

    def compose(self) -> ComposeResult:
        table = DataTable(id="evals-table", cursor_type="row", zebra_stripes=True)
        table.add_columns("model", "score", "base", "vs base", "n")  # narrow enough for a side pane
        yield table
        yield Static(
            "No evaluations yet.\nevaluate(model, benchmark) results appear here, the base model beside.",
            id="evals-empty",
        )

    def on_mount(self) -> None:
        self.query_one("#evals-table").border_title = "Evaluations"
        self.show([])

    def show(self, results: list[dict[str, Any]]) -> None:
        key = (len(results), id(results[-1]) if results else None)
        if key == self._shown:
            return
        self._shown = key
        rows = results_table(results)
        table = self.query_one("#evals-table", DataTable)
        table.display = bool(rows)
        self.query_one("#evals-empty").display = not rows
        table.clear()
        for row in rows:
            base = row["base"]
            base_score = base["score"] if base else None
            table.add_row(
                Text(f"{row['benchmark']} · {row.get('metric') or 'score'}", style="bold"), "", "", "", ""
            )
            if base is not None:
                table.add_row(
                    Text(f"{_short(base['label'])} (base)", style="italic"),
                    _score(base_score),
                    "",
                    "",
                    str(base.get("n") or ""),
                )
            for m in row["models"]:
                table.add_row(
                    _short(m["label"]),
                    Text(_score(m["score"]), style="bold"),
                    _score(base_score),
                    gain_text(m.get("vs_base")),
                    str(m.get("n") or ""),
                )


def _short(label: str) -> str:
    """Job ids without their prefix, as the Jobs pane shows them."""
    return label.removeprefix("job-")
