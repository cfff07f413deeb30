"""The metrics pane: live plots of a training run (loss, reward and per-reward-function means, KL,
learning rate, grad norm, eval metrics), one line per job, x-axis by step, alerts as vertical lines.

It reads a `MetricsBook` (see `intern_tui.telemetry.series`) and nothing else. `update_book` may be
called at any rate: redraws are coalesced to at most one per `redraw_interval`, happen only when the
metric on screen changed, and plotext renders again only when the data, size or theme changed.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from plotext._dict import themes as plotext_themes
from rich.console import Console
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.strip import Strip
from textual.timer import Timer
from textual.widgets import Select, Static, Tab, Tabs
from textual_plotext import PlotextPlot

from ...telemetry import fmt
from ...telemetry.series import GROUPS, MetricsBook, Series

# Colours that read on dark and light themes; job i always gets PALETTE[i % len(PALETTE)].
PALETTE = [
    (78, 168, 222),
    (244, 162, 97),
    (128, 237, 153),
    (199, 125, 255),
    (255, 209, 102),
    (6, 214, 160),
    (239, 71, 111),
    (160, 160, 160),
]
ALERT_COLOURS = {"critical": (255, 60, 60), "error": (255, 60, 60), "warning": (255, 190, 40)}
NAN_COLOUR = (255, 60, 60)
TAB_LABELS = {
    "loss": "loss",
    "reward": "reward",
    "kl": "kl",
    "learning_rate": "lr",
    "grad_norm": "grad",
    "eval": "eval",
    "other": "other",
}
REWARD_FNS = "rewards/*/mean"  # the chooser's entry that overlays every reward function's mean
Y_LABEL_WIDTH = 9  # columns plotext uses for y tick labels and the frame
_SOON = object()  # a draw is queued with call_later


def _rgb(colour: tuple[int, int, int]) -> str:
    return f"rgb({colour[0]},{colour[1]},{colour[2]})"


def _short_step(v: float) -> str:
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:.3g}M"
    if a >= 1e4:
        return f"{v / 1e3:.3g}k"
    return f"{v:.0f}"


def nice_ticks(lo: float, hi: float, count: int) -> list[float]:
    """Round tick values (1, 2, 2.5 or 5 times a power of ten) inside [lo, hi], at most about `count`."""
    if not hi > lo or count < 2:
        return [lo]
    raw = (hi - lo) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(lo / step - 1e-9)
    ticks = []
    k = first
    while k * step <= hi + step * 1e-9:
        ticks.append(round(k * step, 12))  # k * step, without float noise such as 0.30000000000000004
        k += 1
    return ticks or [lo]


def _tick_label(v: float) -> str:
    return "0" if v == 0 else f"{v:.3g}"


def _drop_common_suffix(labels: list[str]) -> list[str]:
    """['pnl_reward_fn', 'risk_reward_fn'] -> ['pnl', 'risk']: a narrow legend keeps what differs."""
    if len(labels) < 2:
        return labels
    suffix = os.path.commonprefix([label[::-1] for label in labels])[::-1]
    cut = suffix.find("_") if "_" in suffix else -1  # cut at a word boundary, keep e.g. 'fn1'/'fn2' whole
    if cut < 0 or any(len(label) <= len(suffix) for label in labels):
        return labels
    return [label[: len(label) - len(suffix) + cut] for label in labels]


class MetricsPlot(PlotextPlot):
    """A PlotextPlot that fills in its data and renders only when something it shows changed: the content
    key, the size or the theme; a hidden plot costs nothing.

    plotext renders in Python (tens of ms for a pane-sized plot, more on a busy machine), so the drawing
    itself runs in a worker thread: the UI thread only hands it the downsampled points, keeps showing the
    previous picture meanwhile and swaps the new lines in when they are ready. A key press never waits
    for a plot."""

    draw_in_thread = True  # False draws on the UI thread (deterministic frames for snapshot tests)

    def __init__(self, builder: Callable[[MetricsPlot], None], **kw: Any):
        super().__init__(**kw)
        self.builder = builder  # fills `self.plt` for the current size
        self.content_key: Any = None
        self.builds = 0  # how many times plotext rendered (tests check the throttling with it)
        self._cached: tuple[tuple, Any] | None = None
        self._strips: list[Strip] = []
        self._strips_key: tuple | None = None
        self._building: tuple | None = None  # the key being drawn in the worker (one at a time)
        self._plot_console: Console | None = None  # renders the lines in the worker

    def show(self, content_key: Any) -> None:
        """Declare what the plot should show; it is drawn again (in the background) if that changed."""
        if content_key != self.content_key:
            self.content_key = content_key
            self._schedule()

    def _key(self) -> tuple:
        return (self.size, self.app.theme, self.theme, self.content_key)

    def on_resize(self) -> None:
        self._schedule()

    def _schedule(self) -> None:
        if not self.is_mounted or self._building is not None:
            return  # the running build reschedules when it is done, if the key moved on
        key = self._key()
        if key == self._strips_key:
            return
        width, height = self.size
        self._building = key
        self.builds += 1
        self._fill(width, height)  # the data, on the UI thread (cheap: downsampled points, ticks)
        if self._plot_console is None:
            self._plot_console = Console(width=max(width, 1), color_system="truecolor", force_terminal=True)
        if not self.draw_in_thread:
            self._drawn(key, self._lines(width, height))
            return
        self.run_worker(
            partial(self._draw_lines, key, width, height), thread=True, group="plot", exit_on_error=False
        )

    def _fill(self, width: int, height: int) -> None:
        self.plt.clear_figure()
        self.builder(self)
        self._plot.plotsize(width, height)
        self._plot._set_size(width, height)  # see PlotextPlot.render
        name = self._get_plotext_theme_name(self.app.theme)
        if name not in plotext_themes:  # a first draw can come before on_mount registered the theme
            self._register_theme(self.app.theme)
        self._plot.theme(name)

    def _draw_lines(self, key: tuple, width: int, height: int) -> None:
        """In a worker thread: the lines, handed back to the UI thread."""
        strips = self._lines(width, height)
        try:
            self.app.call_from_thread(self._drawn, key, strips)
        except RuntimeError:  # the app closed meanwhile
            pass

    def _lines(self, width: int, height: int) -> list[Strip]:
        """plotext's text for the filled figure, turned into the widget's lines."""
        text = Text.from_ansi(self._plot.build()) if width > 0 and height > 0 else Text("")
        console = self._plot_console
        lines = console.render_lines(text, console.options.update(width=max(width, 1), height=height))
        return [Strip(line, width) for line in lines]

    def _drawn(self, key: tuple, strips: list[Strip]) -> None:
        self._strips, self._strips_key, self._building = strips, key, None
        self.refresh()
        self._schedule()  # something changed while this one was drawn

    def render_line(self, y: int) -> Strip:
        if self._building is None and self._strips_key != self._key():
            self.call_later(self._schedule)  # resized or re-themed
        if y < len(self._strips):
            return self._strips[y]
        return Strip.blank(self.size.width)

    def render(self) -> Any:
        """The plot as one Text, drawn now (what the pane shows comes from `render_line`)."""
        key = self._key()
        if self._cached is None or self._cached[0] != key:
            self.builds += 1
            self._fill(*self.size)
            self._cached = (key, Text.from_ansi(self._plot.build()))
        return self._cached[1]


class MetricsPane(Vertical):
    """The metrics pane. Feed it with `update_book(book)` from the UI thread."""

    DEFAULT_CSS = """
    MetricsPane {
        height: 1fr;
    }
    MetricsPane > #metrics-tabs {
        height: 1;
        & Underline { display: none; }
        & Tab { padding: 0 1; }
        & Tab.-active { text-style: bold underline; color: $accent; }
    }
    MetricsPane > #metrics-choice {
        width: 1fr;
        max-width: 48;
        height: 1;
        margin: 0 1;
    }
    MetricsPane > #metrics-plot {
        height: 1fr;
        min-height: 5;
    }
    MetricsPane > #metrics-legend {
        height: auto;
        max-height: 3;
        padding: 0 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    MetricsPane > #metrics-empty {
        height: 1fr;
        padding: 1 2;
        color: $text-muted;
    }
    """

    BINDINGS = [
        Binding("[", "cycle_group(-1)", "previous metric tab", id="metrics.previous", show=False),
        Binding("]", "cycle_group(1)", "next metric tab", id="metrics.next", show=False),
        Binding(
            "{", "cycle_metric(-1)", "previous metric in the tab", id="metrics.previous_metric", show=False
        ),
        Binding("}", "cycle_metric(1)", "next metric in the tab", id="metrics.next_metric", show=False),
    ]

    def __init__(self, *, redraw_interval: float = 0.5, **kw: Any):
        super().__init__(**kw)
        self.redraw_interval = redraw_interval
        self.book: MetricsBook | None = None
        self.group: str | None = None
        self.only: set[str] | None = None  # the runs to plot (compare runs); None: every job
        self._choice: dict[str, str] = {}  # group -> metric the user picked
        self._options: tuple[str, tuple[str, ...]] | None = None  # what the chooser lists now
        self._seen_version = -1
        self._pending: Timer | object | None = None
        self._last_draw = -math.inf

    def compose(self) -> ComposeResult:
        yield Tabs(id="metrics-tabs")
        yield Select[str]([], compact=True, prompt="metric", id="metrics-choice")
        yield MetricsPlot(self._build_plot, id="metrics-plot")
        yield Static("", id="metrics-legend")
        yield Static(
            "No training metrics yet.\nLoss, reward, KL, learning rate… appear here as soon as a job logs a step.",
            id="metrics-empty",
        )

    def on_mount(self) -> None:
        self._show_empty(True)

    # ---- public ----

    @property
    def metric(self) -> str | None:
        """The metric on screen (or REWARD_FNS for the per-reward-function overlay)."""
        if self.book is None or self.group is None:
            return None
        names = self._choices(self.group)
        if not names:
            return None
        chosen = self._choice.get(self.group)
        return chosen if chosen in names else names[0]

    def update_book(self, book: MetricsBook) -> None:
        """Note that the book changed; the pane redraws soon (coalesced), not necessarily now."""
        if book is self.book and book.version == self._seen_version:
            return
        self.book = book
        self._seen_version = book.version
        self._request_draw()

    def show_metric(self, name: str) -> None:
        """Switch to the group holding `name` and plot it."""
        if self.book is None:
            return
        for group in self.book.groups():
            if name in self._choices(group):
                self.group = group
                self._choice[group] = name
                self._request_draw(now=True)
                return

    # ---- drawing ----

    def _request_draw(self, now: bool = False) -> None:
        if self._pending is not None:
            if not now or self._pending is _SOON:
                return
            self._pending.stop()
        wait = 0.0 if now else self.redraw_interval - (time.monotonic() - self._last_draw)
        if wait > 0:
            self._pending = self.set_timer(wait, self._timed_draw)
        else:  # (a zero-delay Textual timer divides by its interval)
            self._pending = _SOON
            self.call_later(self._timed_draw)

    def _timed_draw(self) -> None:
        self._pending = None
        self._last_draw = time.monotonic()
        self.draw()

    def on_resize(self) -> None:
        self._request_draw(now=True)

    def draw(self) -> None:
        """Bring tabs, chooser, plot and legend up to date with the book (call to force a redraw now)."""
        book = self.book
        groups = book.groups() if book is not None else {}
        self._show_empty(not groups)
        if not groups:
            return
        self._sync_tabs(groups)
        if self.group not in groups:
            self.group = next(iter(groups))
        self._sync_choice()
        metric = self.metric
        series = self._series(metric)
        versions = tuple((label, s.version) for label, s, _ in series)
        self.query_one(MetricsPlot).show((metric, versions, book.alerts_version))
        self.query_one("#metrics-legend", Static).update(self._legend(metric, series))

    def _show_empty(self, empty: bool) -> None:
        for selector in ("#metrics-tabs", "#metrics-plot", "#metrics-legend"):
            self.query_one(selector).display = not empty
        self.query_one("#metrics-choice").display = not empty and len(self._choices(self.group)) > 1
        self.query_one("#metrics-empty").display = empty

    def _choices(self, group: str | None) -> list[str]:
        if self.book is None or group is None:
            return []
        names = list(self.book.groups().get(group, []))
        if group == "reward" and sum(n.startswith("rewards/") and n.endswith("/mean") for n in names) > 1:
            names.insert(1 if names and names[0] == "reward" else 0, REWARD_FNS)
        return names

    def _series(self, metric: str | None) -> list[tuple[str, Series, tuple[int, int, int]]]:
        """(label, series, colour) of what the plot shows."""
        book = self.book
        if book is None or metric is None:
            return []
        jobs = [job for job in book.jobs() if self.only is None or job in self.only]
        out = []
        if metric == REWARD_FNS:
            fns = [
                n for n in book.groups().get("reward", []) if n.startswith("rewards/") and n.endswith("/mean")
            ]
            jobs = [job for job in jobs if any(book.get(name, job) is not None for name in fns)]
            labels = _drop_common_suffix([name[len("rewards/") : -len("/mean")] for name in fns])
            for j, job in enumerate(jobs):
                for f, (name, label) in enumerate(zip(fns, labels, strict=True)):
                    s = book.get(name, job)
                    if s is not None and len(s):
                        label = label if len(jobs) == 1 else f"{job} {label}"
                        out.append((label, s, PALETTE[(j * len(fns) + f) % len(PALETTE)]))
            return out
        for j, job in enumerate(jobs):
            s = book.get(metric, job)
            if s is not None and len(s):
                out.append((job, s, PALETTE[j % len(PALETTE)]))
        return out

    def _build_plot(self, plot: MetricsPlot) -> None:
        """Fill the plot for its current size (called by the plot when it must render again)."""
        plt = plot.plt
        metric = self.metric
        series = self._series(metric)
        width, height = plot.size.width, plot.size.height
        if not series or width < 4 or height < 3:
            return
        lo = min(s.steps[0] for _, s, _ in series)
        hi = max(s.steps[-1] for _, s, _ in series)
        buckets = max(8, width - Y_LABEL_WIDTH)
        ys_min, ys_max = math.inf, -math.inf
        bad: list[float] = []
        for _, s, colour in series:
            ds = s.downsampled(buckets, lo, hi)
            if ds.steps:
                plt.plot(ds.steps, ds.values, marker="braille", color=colour)
                ys_min, ys_max = min(ys_min, min(ds.values)), max(ys_max, max(ds.values))
            bad.extend(x for x, _ in ds.nonfinite)
        if ys_min > ys_max:  # nothing finite at all
            ys_min, ys_max = 0.0, 1.0
        if ys_max - ys_min < 1e-12:
            pad = abs(ys_max) * 0.1 or 1.0
        else:
            pad = (ys_max - ys_min) * 0.05
        low, high = ys_min - pad, ys_max + pad
        # NaN/inf steps as red crosses on the bottom edge: visible, and never fed to plotext as values.
        if bad:
            plt.scatter(bad, [low] * len(bad), marker="x", color=NAN_COLOUR)
        alert_metric = "reward" if metric == REWARD_FNS else metric
        for alert in self.book.alerts_for(alert_metric) if self.book else ():
            if lo <= alert["step"] <= hi:
                plt.vline(
                    alert["step"], color=ALERT_COLOURS.get(alert["severity"] or "", ALERT_COLOURS["warning"])
                )
        if hi > lo:
            plt.xlim(lo, hi)
            xt = nice_ticks(lo, hi, max(3, min(6, (width - Y_LABEL_WIDTH) // 10)))
            plt.xticks(xt, [_short_step(x) for x in xt])
        plt.ylim(low, high)
        yt = nice_ticks(low, high, max(3, min(5, height // 3)))
        plt.yticks(yt, [_tick_label(y) for y in yt])

    def _legend(self, metric: str | None, series: list) -> Text:
        """Colour key and latest value per series, packed into lines without splitting an entry."""
        entries: list[Text] = []
        if metric is not None and (len(self._choices(self.group)) == 1 or self.size.width >= 70):
            entries.append(Text(metric if metric != REWARD_FNS else "reward functions (mean)", "bold"))
        lasts = [s.last() for _, s, _ in series]
        steps = {last[0] for last in lasts if last is not None}
        shared_step = len(series) > 2 and len(steps) == 1  # say "@200" once, not per entry
        if shared_step:
            entries.append(Text(f"@{fmt.step(steps.pop())}", "dim"))
        for (label, _, colour), last in zip(series, lasts, strict=True):
            entry = Text.assemble(("■ ", _rgb(colour)), label)
            if last is not None:
                entry.append(" ")
                entry.append(fmt.number(last[1]), "bold")
                if not shared_step:
                    entry.append(f" @{fmt.step(last[0])}", "dim")
            entries.append(entry)
        alerts = self.book.alerts_for("reward" if metric == REWARD_FNS else metric) if self.book else []
        if alerts:
            last_alert = alerts[-1]["message"] or alerts[-1]["kind"]
            entries.append(
                Text(f"⚠ {len(alerts)} alert{'s' if len(alerts) != 1 else ''}: {last_alert}", "yellow")
            )
        width = max(10, self.size.width - 2)
        text = Text(no_wrap=True, overflow="ellipsis")
        used = 0
        for entry in entries:
            if used and used + 2 + len(entry) > width:
                text.append("\n")
                used = 0
            elif used:
                text.append("  ")
                used += 2
            text.append_text(entry)
            used += len(entry)
        return text

    # ---- tabs and chooser ----

    def _sync_tabs(self, groups: dict[str, list[str]]) -> None:
        tabs = self.query_one(Tabs)
        present = {tab.id for tab in tabs.query(Tab)}
        for group in GROUPS:
            if group in groups and f"tab-{group}" not in present:
                later = [f"tab-{g}" for g in GROUPS[GROUPS.index(group) + 1 :] if f"tab-{g}" in present]
                tabs.add_tab(Tab(TAB_LABELS[group], id=f"tab-{group}"), before=later[0] if later else None)
                present.add(f"tab-{group}")
        if self.group in groups and tabs.active != f"tab-{self.group}" and f"tab-{self.group}" in present:
            tabs.active = f"tab-{self.group}"

    def _sync_choice(self) -> None:
        names = self._choices(self.group)
        select: Select[str] = self.query_one("#metrics-choice", Select)
        select.display = len(names) > 1
        options = (self.group or "", tuple(names))
        if options != self._options:
            self._options = options
            with select.prevent(Select.Changed):
                select.set_options([(n if n != REWARD_FNS else "all reward functions", n) for n in names])
                select.value = self.metric or Select.BLANK

    @on(Tabs.TabActivated, "#metrics-tabs")
    def _tab_activated(self, event: Tabs.TabActivated) -> None:
        group = (event.tab.id or "").removeprefix("tab-")
        if group and group != self.group:
            self.group = group
            self._request_draw(now=True)

    @on(Select.Changed, "#metrics-choice")
    def _metric_chosen(self, event: Select.Changed) -> None:
        if self.group is not None and isinstance(event.value, str):
            self._choice[self.group] = event.value
            self._request_draw(now=True)

    def action_cycle_group(self, delta: int) -> None:
        """[ / ]: the previous / next tab (loss, reward, kl, lr, grad, eval…), wrapping around."""
        tabs = self.query_one("#metrics-tabs", Tabs)
        if delta < 0:
            tabs.action_previous_tab()
        else:
            tabs.action_next_tab()

    def action_cycle_metric(self, delta: int) -> None:
        names = self._choices(self.group)
        if len(names) < 2 or self.group is None:
            return
        current = self.metric
        i = names.index(current) if current in names else 0
        self._choice[self.group] = names[(i + delta) % len(names)]
        self._options = None  # the chooser shows the new value
        self._request_draw(now=True)
