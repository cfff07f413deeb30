"""The GPU and metrics panes under Pilot, mounted in a tiny app the size of a dashboard quarter."""

from __future__ import annotations

import copy
import os
import random

import pytest
from helpers import load_trainer_state
from nvml_fake import h100_fake
from textual.app import App, ComposeResult
from textual.widgets import Select, Static, Tabs

from intern_tui.telemetry import fmt
from intern_tui.telemetry.gpu import GpuSampler, read_snapshot
from intern_tui.telemetry.series import MetricsBook
from intern_tui.tui.widgets.gpu_pane import GpuPane
from intern_tui.tui.widgets.metrics_pane import REWARD_FNS, MetricsPane, MetricsPlot

GIB = 1024**3
QUARTER = (100, 30)  # the pane gets the top-left 50x15 cell


class QuarterApp(App):
    """A 2x2 grid like the dashboard's; the widget under test sits in the first cell."""

    CSS = """
    Screen { layout: grid; grid-size: 2 2; grid-rows: 1fr 1fr; grid-columns: 1fr 1fr; }
    Screen > * { border: round $primary-darken-2; height: 1fr; }
    """

    def __init__(self, widget, rest: int = 3):
        super().__init__()
        self.widget = widget
        self.rest = rest

    def compose(self) -> ComposeResult:
        yield self.widget
        for i in range(self.rest):
            yield Static(f"pane {i + 2}")


class StackApp(App):
    """Wide: the GPU pane above the metrics pane, full width."""

    CSS = """
    GpuPane { height: 12; border: round $primary-darken-2; }
    MetricsPane { border: round $primary-darken-2; }
    """

    def compose(self) -> ComposeResult:
        yield GpuPane()
        yield MetricsPane(redraw_interval=0)


def _h100_snapshot(fixtures_dir, pid_to_job=None, processes=None):
    """A snapshot of the recorded 2x H100 box with a training job on GPU 0, and its last minutes."""
    fake, _ = h100_fake(fixtures_dir / "nvidia_smi_h100x2.txt", process_names={4242: "/usr/bin/python3"})
    t = [1_700_000_000.0]
    sampler = GpuSampler(nvml=fake, wall_clock=lambda: t[0], clock=lambda: t[0], pid_to_job=pid_to_job)
    rng = random.Random(7)
    for i in range(300):
        fake.devices[0].util_gpu = 0 if i < 40 else min(100, 70 + rng.randint(0, 30))
        fake.devices[0].mem_used = 0 if i < 40 else 61 * GIB
        fake.devices[0].power_mw = 73_000 if i < 40 else 612_000
        fake.devices[0].temp_c = 33 if i < 40 else 71
        fake.devices[0].processes = processes if processes is not None else []
        sampler.sample_once()
        t[0] += 1.0
    return sampler.snapshot, sampler.history()


def _fixed_processes(snapshot):
    """Pin PIDs so screenshots don't depend on this test process."""
    snap = copy.deepcopy(snapshot)
    snap["gpus"][0]["processes"] = [
        {"pid": 4242, "name": "python3", "mem_used": 58 * GIB, "job_id": "job-1", "hidden": False},
        {"pid": 977, "name": "Xorg", "mem_used": 300 * 1024**2, "job_id": None, "hidden": False},
    ]
    return snap


def _plain(widget) -> str:
    return str(widget.render())


def _chaos_book(fixtures_dir) -> MetricsBook:
    book = MetricsBook()
    load_trainer_state(book, "job-1", fixtures_dir / "grpo_chaos_economy_trainer_state.json")
    book.add_alert(
        {
            "job_id": "job-1",
            "kind": "kl_rising",
            "severity": "warning",
            "message": "KL rising",
            "step": 150,
            "metric": "kl",
        }
    )
    return book


# ---- GPU pane ----


async def test_gpu_pane_shows_two_h100_and_which_job_uses_them(fixtures_dir):
    me = os.getpid()
    snap, history = _h100_snapshot(fixtures_dir, pid_to_job={me: "job-1"}, processes=[(me, 58 * GIB)])
    pane = GpuPane()
    app = QuarterApp(pane)
    async with app.run_test(size=QUARTER) as pilot:
        pane.update_snapshot(snap, history)
        await pilot.pause()
        cards = pane.cards
        assert len(cards) == 2
        header = str(pane.query_one("#gpu-header", Static).content)
        assert "driver 570.133.20 · CUDA 12.8 · 2 GPUs" in header
        assert "job-1 on GPU 0" in header
        card0, card1 = (_plain(c) for c in cards.values())
        for text in (
            "0 H100 80GB HBM3",
            "71°C",
            "612/700 W",
            "61.0/79.6 GiB",
            "job-1",
            f"pid {me}",
            "58.0 GiB",
        ):
            assert text in card0, text
        assert "1 H100 80GB HBM3" in card1 and "26°C" in card1 and "idle: no processes" in card1
        util_line = card0.splitlines()[1]
        assert util_line.rstrip()[-1] in "▁▂▃▄▅▆▇█"  # the sparkline reaches the newest sample
        # The card fits the quarter pane: nothing wider than the pane's content.
        assert all(c.region.right <= pane.region.right for c in cards.values())

        # Same snapshot again: nothing repaints. A change on GPU 1 repaints only GPU 1.
        counts = {key: 0 for key in cards}
        for key, card in cards.items():
            card.refresh = lambda *a, _k=key, _r=card.refresh, **kw: (
                counts.__setitem__(_k, counts[_k] + 1),
                _r(*a, **kw),
            )
        pane.update_snapshot(snap, history)
        assert sum(counts.values()) == 0
        changed = copy.deepcopy(snap)
        changed["ts"] += 1
        changed["gpus"][1]["util_gpu"] = 55
        pane.update_snapshot(changed, [*history, changed])
        await pilot.pause()
        key0, key1 = list(cards)
        assert counts[key1] == 1 and counts[key0] == 1  # GPU 0's sparkline moved with the clock
        assert " 55%" in _plain(cards[key1])


async def test_gpu_pane_no_gpu_state_on_this_machine_and_back(fixtures_dir):
    real = read_snapshot()  # the real NVML: no GPU here
    if real["state"] == "ok":
        pytest.skip("this machine has a GPU")
    pane = GpuPane()
    app = QuarterApp(pane)
    async with app.run_test(size=QUARTER) as pilot:
        pane.update_snapshot(real, [real])
        await pilot.pause()
        box = pane.query_one("#gpu-state", Static)
        assert box.display and not box.has_class("-error")
        text = str(box.content)
        assert text.startswith("No NVIDIA GPU") and real["message"] in text and "run on CPU" in text
        assert pane.cards == {}

        snap, history = _h100_snapshot(fixtures_dir)
        pane.update_snapshot(snap, history)
        await pilot.pause()
        assert not box.display and len(pane.cards) == 2

        error = {
            "state": "error",
            "message": "NVML refused access",
            "driver": None,
            "cuda": None,
            "ts": 1.0,
            "gpus": [],
        }
        pane.update_snapshot(error, [])
        await pilot.pause()
        assert box.display and box.has_class("-error") and pane.cards == {}
        assert "GPU telemetry unavailable" in str(box.content)


async def test_gpu_pane_container_warning_and_mig_labels(fixtures_dir):
    snap, history = _h100_snapshot(fixtures_dir)
    snap = copy.deepcopy(snap)
    snap["message"] = "GPU processes belong to another PID namespace"
    mig = copy.deepcopy(snap["gpus"][1])
    mig.update(
        mig=True,
        mig_index=2,
        uuid="MIG-x",
        name="NVIDIA H100 80GB HBM3 MIG 1g.10gb",
        util_gpu=None,
        temp_c=None,
    )
    mig["processes"] = [{"pid": 123456, "name": None, "mem_used": None, "job_id": None, "hidden": True}]
    snap["gpus"].append(mig)
    pane = GpuPane()
    app = QuarterApp(pane)
    async with app.run_test(size=QUARTER) as pilot:
        pane.update_snapshot(snap, history)
        await pilot.pause()
        assert "⚠ GPU processes belong to another PID namespace" in str(
            pane.query_one("#gpu-header", Static).content
        )
        text = _plain(pane.cards["MIG-x"])
        assert text.startswith("1:2 H100 80GB HBM3 MIG 1g.10gb MIG")
        assert "N/A" in text and "host pid" in text and "pid 123456" in text


# ---- metrics pane ----


async def test_metrics_pane_plots_a_real_grpo_run(fixtures_dir):
    book = _chaos_book(fixtures_dir)
    pane = MetricsPane(redraw_interval=0)
    app = QuarterApp(pane)
    async with app.run_test(size=QUARTER) as pilot:
        pane.update_book(book)
        await pilot.pause()
        await pilot.pause()
        tabs = pane.query_one(Tabs)
        assert [str(t.label) for t in tabs.query("Tab")] == ["loss", "reward", "kl", "lr", "grad", "other"]
        assert pane.metric == "loss"
        legend = str(pane.query_one("#metrics-legend", Static).content)
        step, loss = book.last_value("loss", "job-1")
        assert f"job-1 {fmt.number(loss)} @200" in legend and step == 200
        plot = pane.query_one(MetricsPlot)
        assert plot.builds >= 1 and "┤" in str(plot.render())

        await pilot.click("#tab-reward")
        await pilot.pause()
        assert pane.metric == "reward"
        select = pane.query_one("#metrics-choice", Select)
        assert select.display and select.value == "reward"
        select.value = REWARD_FNS
        await pilot.pause()
        await pilot.pause()
        assert pane.metric == REWARD_FNS
        legend = str(pane.query_one("#metrics-legend", Static).content)
        assert legend.count("■") == 5 and "■ pnl " in legend and "@200" in legend

        await pilot.click("#tab-kl")
        await pilot.pause()
        await pilot.pause()
        legend = str(pane.query_one("#metrics-legend", Static).content)
        assert "⚠ 1 alert: KL rising" in legend


async def test_metrics_pane_100k_points_stay_within_the_pane(fixtures_dir):
    book = MetricsBook()
    rng = random.Random(3)
    for step in range(100_000):
        book.add("job-1", step, {"loss": 2.0 - step / 100_000 + rng.random() * 0.05})
        if step % 2 == 0:
            book.add("job-2", step, {"loss": 1.5 + rng.random() * 0.05})
    book.add("job-1", 64_000, {"loss": 9.5})  # one spike, far above everything else
    pane = MetricsPane(redraw_interval=0)
    app = QuarterApp(pane)
    async with app.run_test(size=QUARTER) as pilot:
        plot = pane.query_one(MetricsPlot)
        sizes = []
        real_plot = plot.plt.plot

        peaks = []

        def recording_plot(xs, ys, **kw):
            sizes.append(len(xs))
            peaks.append((max(ys), xs[ys.index(max(ys))]))
            return real_plot(xs, ys, **kw)

        plot.plt.plot = recording_plot
        pane.update_book(book)
        await pilot.pause()
        await pilot.pause()
        assert len(sizes) == 2 and max(sizes) <= 2 * plot.size.width
        assert peaks[0] == (9.5, 64_000)  # the one spike in 100k points is drawn
        rendered = str(plot.render())
        assert "5┤" in rendered  # and it stretches the y axis (without it: 1.5 to 2)
        assert plot.region.right <= pane.region.right and plot.region.bottom <= pane.region.bottom
        legend = str(pane.query_one("#metrics-legend", Static).content)
        assert "job-1" in legend and "job-2" in legend and "@99999" in legend and "@99998" in legend


async def test_metrics_pane_coalesces_bursts_of_updates(fixtures_dir):
    book = _chaos_book(fixtures_dir)
    pane = MetricsPane(redraw_interval=0.5)
    app = QuarterApp(pane)
    async with app.run_test(size=QUARTER) as pilot:
        pane.update_book(book)
        await pilot.pause()
        await pilot.pause()
        await app.workers.wait_for_complete()
        plot = pane.query_one(MetricsPlot)
        legend = pane.query_one("#metrics-legend", Static)
        before = plot.builds
        bursts, step = 10, 200
        for _ in range(bursts):  # bursts of 5 updates, a UI tick apart: far quicker than redraw_interval
            for _ in range(5):
                step += 1
                book.add("job-1", step, {"loss": 0.001 * step})
                pane.update_book(book)
            await pilot.pause()
        for _ in range(100):  # the coalesced redraw comes within redraw_interval; wait for it (bounded)
            if f"@{step}" in str(legend.content):
                break
            await pilot.pause(0.05)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert f"@{step}" in str(legend.content)  # the redraw shows the last burst
        assert 1 <= plot.builds - before < bursts
        # Another metric changing doesn't rebuild the loss plot once the draw happens.
        pane.draw()
        await pilot.pause()
        built = plot.builds
        book.add("job-1", 300, {"kl": 0.5})
        pane.draw()
        await pilot.pause()
        assert plot.builds == built


async def test_metrics_pane_empty_state_and_metric_cycling(fixtures_dir):
    pane = MetricsPane(redraw_interval=0)
    app = QuarterApp(pane)
    async with app.run_test(size=QUARTER) as pilot:
        await pilot.pause()
        assert pane.query_one("#metrics-empty").display
        assert not pane.query_one(MetricsPlot).display
        book = MetricsBook()
        pane.update_book(book)
        book.add("job-1", 1, {"reward": 0.1, "rewards/a/mean": 0.05, "rewards/b/mean": 0.05})
        pane.update_book(book)
        await pilot.pause()
        await pilot.pause()
        assert not pane.query_one("#metrics-empty").display
        assert pane.metric == "reward"
        pane.query_one(Tabs).focus()
        await pilot.press("}")  # the metric within the tab ([ ] switch tabs)
        await pilot.pause()
        assert pane.metric == REWARD_FNS
        await pilot.press("}", "}")
        await pilot.pause()
        assert pane.metric == "rewards/b/mean"
        assert pane.query_one("#metrics-choice", Select).value == "rewards/b/mean"


# ---- screenshots ----


def test_snapshot_gpu_pane_quarter(snap_compare, fixtures_dir):
    snap, history = _h100_snapshot(fixtures_dir)
    snap = _fixed_processes(snap)
    pane = GpuPane()

    async def run_before(pilot):
        pane.update_snapshot(snap, history)
        await pilot.pause()

    assert snap_compare(QuarterApp(pane), terminal_size=QUARTER, run_before=run_before)


def test_snapshot_gpu_pane_no_gpu(snap_compare):
    state = {
        "state": "no_driver",
        "message": "no NVIDIA GPU found (NVML library not loaded: libnvidia-ml.so.1 is not installed, "
        "so there is no NVIDIA driver on this machine)",
        "driver": None,
        "cuda": None,
        "ts": 0.0,
        "gpus": [],
    }
    pane = GpuPane()

    async def run_before(pilot):
        pane.update_snapshot(state, [])
        await pilot.pause()

    assert snap_compare(QuarterApp(pane), terminal_size=QUARTER, run_before=run_before)


def test_snapshot_metrics_pane_quarter(snap_compare, fixtures_dir):
    book = _chaos_book(fixtures_dir)
    pane = MetricsPane(redraw_interval=0)

    async def run_before(pilot):
        pane.update_book(book)
        await pilot.pause()
        await pilot.pause()
        pane.show_metric("kl")
        await pilot.pause()
        await pilot.pause()

    assert snap_compare(QuarterApp(pane), terminal_size=QUARTER, run_before=run_before)


def test_snapshot_both_panes_wide(snap_compare, fixtures_dir):
    snap, history = _h100_snapshot(fixtures_dir)
    snap = _fixed_processes(snap)
    book = _chaos_book(fixtures_dir)
    book.add_alert(
        {
            "job_id": "job-1",
            "kind": "reward_swing",
            "severity": "error",
            "message": "reward swings",
            "step": 120,
            "metric": "reward",
        }
    )
    app = StackApp()

    async def run_before(pilot):
        app.query_one(GpuPane).update_snapshot(snap, history)
        pane = app.query_one(MetricsPane)
        pane.update_book(book)
        await pilot.pause()
        await pilot.pause()
        pane.show_metric("reward")
        await pilot.pause()
        await pilot.pause()

    assert snap_compare(app, terminal_size=(140, 40), run_before=run_before)


class MetricsViewApp(App):
    def compose(self) -> ComposeResult:
        from intern_tui.tui.widgets.telemetry import MetricsView

        yield MetricsView()


async def test_a_large_backward_seek_rebuilds_the_metrics_book_in_a_worker():
    from intern_tui.tui.widgets.telemetry import SYNC_REBUILD, MetricsView

    n = SYNC_REBUILD * 2
    records = [(seq, "job-1", seq, {"loss": 10.0 / seq}) for seq in range(1, n + 1)]
    app = MetricsViewApp()
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.query_one(MetricsView)
        view.show(records, [])  # larger than SYNC_REBUILD from empty: built in the worker
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert view.book.latest_step("job-1") == n
        view.show(records[: n - 10], [])  # back in time: rebuilt off the UI thread, then swapped in
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert view.book.latest_step("job-1") == n - 10
