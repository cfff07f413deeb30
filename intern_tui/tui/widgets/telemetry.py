"""Dashboard adapters for the GPU and metrics panes: they turn the session model's records into what the
panes draw, and throttle redraws (plot rendering is the expensive part of a frame)."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from ..glyphs import Glyphs


class MetricsView(VerticalScroll):
    DEFAULT_CSS = "MetricsView { background: $surface; border: round $panel; }"

    def __init__(self, **kw):
        super().__init__(**kw)
        self.border_title = "Metrics"
        self._body = Static(Text("No metrics yet: they appear when a training job logs.", style="dim"))

    def compose(self):
        yield self._body

    def show(
        self, records: list[tuple[int, str, int, dict[str, float]]], alerts: list[dict[str, Any]]
    ) -> None:
        if not records:
            return
        latest: dict[str, tuple[int, dict[str, float]]] = {}
        for _, job_id, step, values in records:
            step_prev, merged = latest.get(job_id, (0, {}))
            latest[job_id] = (max(step, step_prev), {**merged, **values})
        table = Table(box=None, header_style="bold")
        table.add_column("job")
        table.add_column("step", justify="right")
        for name in ("loss", "reward", "kl", "learning_rate", "grad_norm"):
            table.add_column(name, justify="right")
        for job_id, (step, values) in latest.items():
            table.add_row(
                job_id,
                str(step),
                *(
                    f"{values[k]:.4g}" if k in values else "-"
                    for k in ("loss", "reward", "kl", "learning_rate", "grad_norm")
                ),
            )
        self._body.update(table)


class GpuView(VerticalScroll):
    DEFAULT_CSS = "GpuView { background: $surface; border: round $panel; }"

    def __init__(self, glyphs: Glyphs | None = None, **kw):
        super().__init__(**kw)
        self.glyphs = glyphs or Glyphs()
        self.border_title = "GPU"
        self._body = Static(Text("Waiting for the first GPU sample…", style="dim"))

    def compose(self):
        yield self._body

    def show(self, snapshot: dict[str, Any] | None, history: list[dict[str, Any]]) -> None:
        if snapshot is None:
            return
        if snapshot.get("state") != "ok":
            self._body.update(
                Text(snapshot.get("message") or snapshot.get("state", "no GPU"), style="yellow")
            )
            return
        table = Table(box=None, header_style="bold")
        for col in ("gpu", "util", "memory", "power", "temp"):
            table.add_column(col)
        for gpu in snapshot.get("gpus", []):
            mem = (gpu.get("mem_used") or 0) / max(gpu.get("mem_total") or 1, 1)
            table.add_row(
                f"{gpu.get('index')} {gpu.get('name', '')}",
                f"{gpu.get('util_gpu', 'N/A')}%",
                f"{mem:.0%}",
                f"{gpu.get('power_w', 'N/A')} W",
                f"{gpu.get('temp_c', 'N/A')} °C",
            )
        self._body.update(table)
