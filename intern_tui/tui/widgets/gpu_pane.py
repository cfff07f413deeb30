"""The GPU pane: one card per GPU (utilisation and memory bars, power, temperature, a sparkline of the
last minutes, and which job's processes run on it), or a clear message when there is no GPU.

It renders plain snapshots (see `intern_tui.telemetry.gpu`) and never calls NVML. `update_snapshot` is
cheap to call at any rate: an unchanged snapshot is ignored, and a card repaints only when its own
numbers changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import Static

from ...telemetry import fmt

SPARK = " ▁▂▃▄▅▆▇█"
EIGHTHS = " ▏▎▍▌▋▊▉█"
WIDE = 70  # from this width the bars and the sparkline share one line
MAX_PROCESSES = 4  # per card; the rest are counted


def bar(fraction: float | None, width: int, style: str) -> Text:
    """A horizontal bar with eighth-block resolution; a dim dotted bar when the value is N/A."""
    width = max(1, width)
    if fraction is None:
        return Text("·" * width, style="dim")
    cells = max(0.0, min(1.0, fraction)) * width
    full = int(cells)
    part = EIGHTHS[int((cells - full) * 8)] if full < width else ""
    filled = "█" * full + part.strip()
    return Text.assemble((filled, style), ("░" * (width - len(filled)), "dim"))


def sparkline(points: Sequence[tuple[float, float]], end: float, window: float, width: int) -> str:
    """Utilisation (0–100) over the `window` seconds before `end`, one character per time bucket showing
    the bucket's maximum (so a short spike stays visible); blank where there was no sample."""
    width = max(1, width)
    peaks: list[float | None] = [None] * width
    start = end - window
    for ts, value in points:
        if value is None or ts < start or ts > end:
            continue
        i = min(width - 1, int((ts - start) / window * width))
        if peaks[i] is None or value > peaks[i]:
            peaks[i] = value
    top = len(SPARK) - 1
    # The lowest bar (not a blank) for 0%: "idle" and "no sample" must look different.
    return "".join(" " if v is None else SPARK[max(1, min(top, round(v / 100 * top)))] for v in peaks)


def _level_style(value: float | None, warn: float, hot: float, base: str) -> str:
    if value is None:
        return "dim"
    return "bold red" if value >= hot else "yellow" if value >= warn else base


def gpu_key(gpu: dict[str, Any]) -> str:
    return gpu.get("uuid") or fmt.gpu_label(gpu)


class GpuCard(Widget):
    """One GPU (or MIG device): drawn from its snapshot entry and its utilisation history."""

    DEFAULT_CSS = """
    GpuCard {
        height: auto;
        padding: 0 1 0 0;
        margin-top: 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    def __init__(self, gpu: dict[str, Any], spark: Sequence[tuple[float, float]], end: float, window: float):
        super().__init__()
        self._data: tuple = ()
        self.set_data(gpu, spark, end, window)

    def set_data(
        self, gpu: dict[str, Any], spark: Sequence[tuple[float, float]], end: float, window: float
    ) -> None:
        data = (gpu, tuple(spark), end, window)
        if data != self._data:
            self._data = data
            self.refresh(layout=True)

    def render(self) -> Text:
        gpu, spark, end, window = self._data
        width = max(20, self.size.width or 48)
        util = gpu["util_gpu"]
        mem_frac = fmt.mem_fraction(gpu["mem_used"], gpu["mem_total"])
        title = Text.assemble((fmt.gpu_label(gpu) + " ", "bold"), (fmt.short_name(gpu["name"]), "bold"))
        if gpu.get("mig"):
            title.append(" MIG", "magenta")
        temp = Text(fmt.celsius(gpu["temp_c"]), style=_level_style(gpu["temp_c"], 75, 85, ""))
        power = fmt.watts(gpu["power_w"], gpu["power_limit_w"])
        clock = fmt.mhz(gpu["sm_clock_mhz"])
        util_text = Text(f"{fmt.percent(util):>4}", style=_level_style(util, 101, 101, "bold"))
        mem_text = Text(fmt.mem_pair(gpu["mem_used"], gpu["mem_total"]))
        mem_style = "red" if mem_frac is not None and mem_frac >= 0.95 else "cyan"
        lines: list[Text] = []
        if gpu.get("error"):
            lines.append(Text.assemble(title, "  ", (gpu["error"], "red")))
            lines.extend(_process_lines(gpu["processes"], width))
            return Text("\n").join(lines)
        head = Text.assemble(title, "  ", temp, f"  {power}")
        if len(head) + len(clock) + 2 <= width:
            head.append(f"  {clock}", "dim")
        lines.append(head)
        if width >= WIDE:
            # util bar, percentage, sparkline and memory on one line.
            free = width - 17 - len(mem_text)
            bar_w = max(8, free * 2 // 7)
            spark_w = max(8, free - 2 * bar_w)
            util_bar = bar(None if util is None else util / 100, bar_w, "green")
            lines.append(
                Text.assemble(
                    "util ",
                    util_bar,
                    util_text,
                    " ",
                    (sparkline(spark, end, window, spark_w), "green"),
                    "  mem ",
                    bar(mem_frac, bar_w, mem_style),
                    " ",
                    mem_text,
                )
            )
        else:
            bar_w = max(6, (width - 11) // 2)
            spark_w = max(4, width - 11 - bar_w)
            util_bar = bar(None if util is None else util / 100, bar_w, "green")
            lines.append(
                Text.assemble(
                    "util ", util_bar, util_text, " ", (sparkline(spark, end, window, spark_w), "green")
                )
            )
            lines.append(Text.assemble("mem  ", bar(mem_frac, bar_w, mem_style), " ", mem_text))
        lines.extend(_process_lines(gpu["processes"], width))
        return Text("\n").join(lines)


def _process_lines(processes: list[dict[str, Any]], width: int) -> list[Text]:
    # Our jobs first, then the biggest memory users.
    ordered = sorted(processes, key=lambda p: (p["job_id"] is None, -(p["mem_used"] or 0), p["pid"]))
    lines = []
    for p in ordered[:MAX_PROCESSES]:
        line = Text("  └ ", style="dim")
        if p["job_id"]:
            line.append(p["job_id"], "bold cyan")
            if p.get("rank") is not None:
                line.append(f" rank {p['rank']}", "cyan")
        elif p.get("hidden"):
            line.append("host pid", "dim")
        else:
            line.append("other", "dim")
        line.append(f"  {p['name'] or fmt.NA}  pid {p['pid']}  ")
        line.append(fmt.mem_short(p["mem_used"]), "cyan")
        lines.append(line)
    if len(ordered) > MAX_PROCESSES:
        lines.append(Text(f"  └ … {len(ordered) - MAX_PROCESSES} more processes", style="dim"))
    if not processes and width >= 30:
        lines.append(Text("  idle: no processes", style="dim"))
    return lines


def _history_snapshots(history: Iterable[Any]) -> Iterable[dict[str, Any]]:
    for item in history:
        # Accept plain snapshots, or (seq, snapshot) pairs as a reducer may keep them.
        snap = item[1] if isinstance(item, tuple) else item
        if isinstance(snap, dict):
            yield snap


class GpuPane(VerticalScroll):
    """The GPU pane. Feed it with `update_snapshot(snapshot, history)` from the UI thread."""

    DEFAULT_CSS = """
    GpuPane {
        height: 1fr;
        padding: 0 0 0 1;
        scrollbar-size-vertical: 1;
    }
    GpuPane > #gpu-header {
        height: auto;
    }
    GpuPane > #gpu-state {
        height: auto;
        margin-top: 1;
        padding: 1 2;
        border: round $warning 60%;
        color: $text;
    }
    GpuPane > #gpu-state.-error {
        border: round $error;
    }
    """

    def __init__(self, *, spark_window: float = 300.0, **kw: Any):
        super().__init__(**kw)
        self.spark_window = spark_window
        self._shown: tuple | None = None  # identity of the snapshot on screen
        self._cards: dict[str, GpuCard] = {}

    def compose(self) -> ComposeResult:
        yield Static(Text("GPU: waiting for the first sample…", style="dim"), id="gpu-header")
        state = Static("", id="gpu-state")
        state.display = False
        yield state

    @property
    def cards(self) -> dict[str, GpuCard]:
        return dict(self._cards)

    def update_snapshot(self, snapshot: dict[str, Any] | None, history: Iterable[Any] = ()) -> None:
        """Show a snapshot; `history` is recent snapshots (oldest first) for the sparklines."""
        if snapshot is None:
            return
        key = (id(snapshot), snapshot.get("ts"), snapshot.get("state"))
        if key == self._shown:
            return
        self._shown = key
        header = self.query_one("#gpu-header", Static)
        state_box = self.query_one("#gpu-state", Static)
        if snapshot.get("state") != "ok":
            self._set_cards([], {}, 0.0)
            header.update(Text("GPU", style="bold"))
            state_box.set_class(snapshot.get("state") == "error", "-error")
            state_box.update(_state_text(snapshot))
            state_box.display = True
            return
        state_box.display = False
        gpus = snapshot.get("gpus") or []
        header.update(_header_text(snapshot, gpus))
        sparks = self._sparks(gpus, history)
        self._set_cards(gpus, sparks, float(snapshot.get("ts") or 0.0))

    def _sparks(
        self, gpus: list[dict[str, Any]], history: Iterable[Any]
    ) -> dict[str, list[tuple[float, float]]]:
        wanted = {gpu_key(g) for g in gpus}
        out: dict[str, list[tuple[float, float]]] = {k: [] for k in wanted}
        for snap in _history_snapshots(history):
            ts = snap.get("ts") or 0.0
            for g in snap.get("gpus") or ():
                k = gpu_key(g)
                if k in out and g.get("util_gpu") is not None:
                    out[k].append((ts, g["util_gpu"]))
        return out

    def _set_cards(self, gpus: list[dict[str, Any]], sparks: dict[str, list], end: float) -> None:
        keys = [gpu_key(g) for g in gpus]
        if keys != list(self._cards):
            # The set of GPUs changed (first sample, MIG reconfigured): rebuild the cards.
            for card in self._cards.values():
                card.remove()
            self._cards = {}
            new = [
                GpuCard(g, sparks.get(k, ()), end, self.spark_window) for k, g in zip(keys, gpus, strict=True)
            ]
            self._cards = dict(zip(keys, new, strict=True))
            if new:
                self.mount_all(new)
            return
        for k, g in zip(keys, gpus, strict=True):
            self._cards[k].set_data(g, sparks.get(k, ()), end, self.spark_window)


def _header_text(snapshot: dict[str, Any], gpus: list[dict[str, Any]]) -> Text:
    physical = sum(not g.get("mig") for g in gpus)
    text = Text.assemble(
        ("GPU ", "bold"),
        (f"driver {snapshot.get('driver') or fmt.NA} · CUDA {snapshot.get('cuda') or fmt.NA} · ", "dim"),
        (f"{physical} GPU{'s' if physical != 1 else ''}", "dim"),
    )
    jobs: dict[str, list[str]] = {}
    for g in gpus:
        for p in g.get("processes") or ():
            if p.get("job_id"):
                labels = jobs.setdefault(p["job_id"], [])
                if fmt.gpu_label(g) not in labels:
                    labels.append(fmt.gpu_label(g))
    for job, labels in jobs.items():
        text.append("\n")
        text.append(job, "bold cyan")
        text.append(f" on GPU {','.join(labels)}")
    if snapshot.get("message"):
        text.append("\n")
        text.append("⚠ " + snapshot["message"], "yellow")
    return text


def _state_text(snapshot: dict[str, Any]) -> Text:
    state = snapshot.get("state")
    if state == "error":
        title = "GPU telemetry unavailable"
        hint = "The sampler retries by itself; `intern-tui gpu` shows the same reading."
    else:
        title = "No NVIDIA GPU"
        hint = "Training jobs run on CPU. This pane fills in when a GPU becomes visible."
    return Text.assemble((title, "bold"), "\n", (snapshot.get("message") or "", ""), "\n\n", (hint, "dim"))
