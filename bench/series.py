"""Metric series at scale: feeding a MetricsBook, min/max downsampling of 100k points, and what a metrics
pane redraw costs (downsample + plotext + Textual) at a quarter of 100x30 and wide.

    python bench/series.py [--points 100000]

Prints a table; not a test. Numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from textual.app import App, ComposeResult  # noqa: E402

from intern_tui.telemetry.series import MetricsBook, Series, downsample  # noqa: E402
from intern_tui.tui.widgets.metrics_pane import MetricsPane, MetricsPlot  # noqa: E402


def timed(fn, repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def build_book(points: int) -> MetricsBook:
    rng = random.Random(0)
    book = MetricsBook()
    for step in range(points):
        values = {"loss": 2.0 * math.exp(-step / points * 3) + rng.random() * 0.05, "learning_rate": 2e-5}
        book.add("job-1", step, values)
        book.add("job-2", step, {"loss": 1.5 + rng.random() * 0.05})
    return book


class PaneApp(App):
    def compose(self) -> ComposeResult:
        yield MetricsPane(redraw_interval=0)


async def pane_redraw(book: MetricsBook, size: tuple[int, int], repeat: int) -> tuple[float, float, int]:
    """Seconds per full redraw after new data, seconds per no-op update_book, and the plot width."""
    app = PaneApp()
    async with app.run_test(size=size) as pilot:
        pane = app.query_one(MetricsPane)
        plot = pane.query_one(MetricsPlot)
        pane.update_book(book)
        await pilot.pause()
        await pilot.pause()
        step = book.latest_step("job-1") or 0
        start = time.perf_counter()
        for i in range(repeat):
            book.add("job-1", step + 1 + i, {"loss": 0.1})
            pane.draw()
            plot.render()  # what the next paint does
        redraw = (time.perf_counter() - start) / repeat
        start = time.perf_counter()
        for _ in range(1000):
            pane.update_book(book)  # unchanged: the 10-20 Hz path when nothing arrived
        noop = (time.perf_counter() - start) / 1000
        return redraw, noop, plot.size.width


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=100_000)
    args = parser.parse_args()
    n = args.points

    start = time.perf_counter()
    book = build_book(n)
    feed = time.perf_counter() - start
    print(f"{'operation':<52} {'time':>12}")
    print(
        f"{f'MetricsBook.add, {n:,} steps x 2 jobs (3 values/step)':<52} {feed * 1e6 / (2 * n):>9.2f} µs/add"
    )

    series = book.get("loss", "job-1")
    assert isinstance(series, Series)
    for buckets in (40, 110, 500):
        t = timed(lambda b=buckets: downsample(series.steps, series.values, b, all_finite=True), 20)
        print(f"{f'downsample {n:,} points -> {buckets} buckets':<52} {t * 1e3:>9.2f} ms")
    spiky = Series()
    for i, (s, v) in enumerate(zip(series.steps, series.values, strict=True)):
        spiky.add(s, math.nan if i % 10_000 == 0 else v)
    t = timed(lambda: downsample(spiky.steps, spiky.values, 110), 20)
    print(f"{f'downsample {n:,} points with {n // 10_000} NaNs -> 110 buckets':<52} {t * 1e3:>9.2f} ms")
    t = timed(lambda: series.downsampled(110), 1000)
    print(f"{'Series.downsampled, unchanged (cached)':<52} {t * 1e6:>9.2f} µs")

    for label, size in (("quarter of 100x30", (50, 15)), ("wide 160x40", (160, 40))):
        redraw, noop, width = asyncio.run(pane_redraw(book, size, 20))
        print(
            f"{f'metrics pane redraw, 2 jobs x {n:,}, {label} (plot {width} cols)':<52} {redraw * 1e3:>9.2f} ms"
        )
        print(f"{f'metrics pane update_book, nothing new ({label})':<52} {noop * 1e6:>9.2f} µs")
    print("\nRedraws are coalesced to at most one per redraw_interval (default 0.5 s).")


if __name__ == "__main__":
    main()
