"""Metric series: min/max downsampling, NaN handling, the MetricsBook, and real trainer logs."""

from __future__ import annotations

import json
import math
import random

import pytest
from helpers import load_trainer_state
from textual_plotext.plot import Plot

from intern_tui.events import Event
from intern_tui.telemetry.series import MetricsBook, Series, downsample


def _render(ds, width=60, height=15) -> str:
    """Draw with the real plotext, as the pane does; raises if plotext can't take the data."""
    plt = Plot()
    plt.plotsize(width, height)
    if ds.steps:
        plt.plot(ds.steps, ds.values, marker="braille")
    if ds.nonfinite:
        plt.scatter([x for x, _ in ds.nonfinite], [0.0] * len(ds.nonfinite), marker="x")
    return plt.build()


def test_a_single_spike_in_100k_points_survives():
    rng = random.Random(1)
    steps = list(range(100_000))
    values = [1.0 + rng.random() * 0.01 for _ in steps]
    values[73_421] = 50.0
    values[12_345] = -7.0
    ds = downsample(steps, values, buckets=100)
    assert len(ds.steps) <= 200
    assert max(ds.values) == 50.0 and ds.steps[ds.values.index(50.0)] == 73_421
    assert min(ds.values) == -7.0 and ds.steps[ds.values.index(-7.0)] == 12_345
    assert ds.steps == sorted(ds.steps) and ds.nonfinite == []


def test_each_bucket_keeps_its_min_and_max():
    rng = random.Random(2)
    steps = sorted(rng.sample(range(1_000_000), 5_000))
    values = [rng.gauss(0, 1) for _ in steps]
    buckets = 37
    ds = downsample(steps, values, buckets)
    lo, hi = steps[0], steps[-1]
    width = (hi - lo) / buckets
    kept = set(zip(ds.steps, ds.values, strict=True))
    for b in range(buckets):
        inside = [
            (s, v)
            for s, v in zip(steps, values, strict=True)
            if lo + b * width <= s < lo + (b + 1) * width or (b == buckets - 1 and s == hi)
        ]
        if inside:
            assert min(inside, key=lambda p: p[1]) in kept
            assert max(inside, key=lambda p: p[1]) in kept


def test_short_series_pass_through_unchanged():
    ds = downsample([1, 2, 3], [0.5, 0.25, 0.125], buckets=10)
    assert (ds.steps, ds.values, ds.nonfinite) == ([1, 2, 3], [0.5, 0.25, 0.125], [])
    assert downsample([], [], 10).steps == []


def test_nan_and_inf_become_markers_and_plotext_draws_the_rest():
    n = 10_000
    steps = list(range(n))
    values = [math.sin(i / 500) for i in steps]
    values[10] = math.nan
    values[5000] = math.inf
    values[9000] = -math.inf
    ds = downsample(steps, values, buckets=50)
    assert all(math.isfinite(v) for v in ds.values)
    assert [x for x, _ in ds.nonfinite] == [10, 5000, 9000]
    assert _render(ds)
    # A wholly NaN series (diverged from the start) is only markers, and still draws.
    ds = downsample([1, 2, 3], [math.nan] * 3, buckets=50)
    assert ds.steps == [] and len(ds.nonfinite) == 3
    assert _render(ds)
    # Without the split plotext itself fails on inf: this is why the split exists.
    with pytest.raises(ValueError):
        plt = Plot()
        plt.plotsize(40, 10)
        plt.plot([1, 2, 3], [1.0, math.inf, 3.0])
        plt.build()


def test_series_keeps_steps_ascending_and_unique():
    s = Series()
    for step, value in [(1, 1.0), (3, 3.0), (2, 2.0), (3, 30.0), (5, math.nan), (5, 5.0)]:
        s.add(step, value)
    assert list(s.steps) == [1.0, 2.0, 3.0, 5.0]
    assert list(s.values) == [1.0, 2.0, 30.0, 5.0]
    assert s.nonfinite == 0  # the NaN at step 5 was replaced
    first = s.downsampled(10)
    assert s.downsampled(10) is first  # cached while unchanged
    s.add(6, 6.0)
    assert s.downsampled(10) is not first


def test_book_takes_job_metric_and_alert_events():
    book = MetricsBook()
    ev = Event("s", 1, 0.0, "job_metric", None, {"job_id": "job-1", "step": 10, "values": {"loss": 2.0}})
    assert book.apply(ev)
    # String-valued metrics (transformers 5 logs), a bool and a non-number: the strings count, the rest don't.
    book.apply(
        "job_metric",
        {
            "job_id": "job-1",
            "step": 20,
            "values": {"loss": "1.5", "kl": "0.0007629", "ok": True, "note": "x"},
        },
    )
    book.apply("job_metric", {"job_id": "job-2", "step": 5, "values": {"loss": 3.0}, "source": "stdout"})
    assert not book.apply("job_log", {"job_id": "job-1", "line": "hi"})
    assert book.jobs() == ["job-1", "job-2"]
    steps, values = book.series("loss")["job-1"]
    assert (list(steps), list(values)) == ([10.0, 20.0], [2.0, 1.5])
    assert book.latest("job-1") == {"loss": 1.5, "kl": 0.0007629}
    assert book.latest_step("job-1") == 20.0
    assert book.names() == ["kl", "loss"]

    v_loss, v_kl = book.version_of("loss"), book.version_of("kl")
    book.add("job-2", 6, {"loss": 2.9})
    assert book.version_of("loss") != v_loss and book.version_of("kl") == v_kl

    book.apply(
        "alert",
        {
            "job_id": "job-1",
            "kind": "kl_spike",
            "severity": "warning",
            "message": "KL",
            "step": 20,
            "metric": "kl",
        },
    )
    book.apply(
        "alert",
        {
            "job_id": "job-1",
            "kind": "job_failed",
            "severity": "error",
            "message": "OOM",
            "step": 21,
            "metric": None,
        },
    )
    book.apply(
        "alert",
        {"job_id": "job-1", "kind": "stalled", "severity": "warning", "message": "no step", "step": None},
    )
    assert [a["kind"] for a in book.alerts_for("kl")] == ["kl_spike", "job_failed"]
    assert [a["kind"] for a in book.alerts_for("loss")] == ["job_failed"]
    assert book.alerts_for("kl", job_id="job-2") == []
    assert book.version_of("kl") != v_kl


def test_groups_put_the_headline_first_and_reward_functions_next():
    book = MetricsBook()
    book.add(
        "j",
        1,
        {
            "reward_std": 0.1,
            "rewards/b_fn/std": 0.1,
            "rewards/b_fn/mean": 0.2,
            "rewards/a_fn/mean": 0.3,
            "reward": 0.5,
            "kl": 0.01,
            "learning_rate": 1e-5,
            "grad_norm": 1.0,
            "eval_runtime": 3.0,
            "eval_accuracy": 0.5,
            "eval_loss": 1.2,
            "sft_loss": 1.0,
            "loss": 1.1,
            "epoch": 0.1,
            "entropy": 0.7,
        },
    )
    assert book.groups() == {
        "loss": ["loss", "sft_loss"],
        "reward": ["reward", "rewards/a_fn/mean", "rewards/b_fn/mean", "reward_std", "rewards/b_fn/std"],
        "kl": ["kl"],
        "learning_rate": ["learning_rate"],
        "grad_norm": ["grad_norm"],
        "eval": ["eval_loss", "eval_accuracy"],
        "other": ["entropy"],
    }


def test_stepless_metrics_still_plot_in_order():
    book = MetricsBook()
    for loss in (3.0, 2.0, 1.0):
        book.add("j", None, {"loss": loss})
    steps, values = book.series("loss")["j"]
    assert list(steps) == [0.0, 1.0, 2.0] and list(values) == [3.0, 2.0, 1.0]


def test_real_trainer_logs_plot_without_gaps(fixtures_dir):
    files = sorted(fixtures_dir.glob("*trainer_state.json"))
    assert len(files) >= 6
    for path in files:
        book = MetricsBook()
        history = json.loads(path.read_text())["log_history"]
        used = load_trainer_state(book, "job-1", path)
        assert used == sum(1 for e in history if any(k != "step" for k in e)), path.name
        groups = book.groups()
        assert "loss" in groups, path.name
        for names in groups.values():
            for name in names:
                steps, values = book.series(name)["job-1"]
                expected = [e["step"] for e in history if isinstance(e.get(name), int | float)]
                assert list(steps) == sorted(set(expected)), (path.name, name)  # every logged step, no gaps
                ds = book.get(name, "job-1").downsampled(30)
                finite = [v for v in values if math.isfinite(v)]
                assert min(ds.values) == min(finite) and max(ds.values) == max(finite)
                assert _render(ds, 40, 12)


def test_real_logs_group_as_expected(fixtures_dir):
    def groups(name):
        book = MetricsBook()
        load_trainer_state(book, "j", fixtures_dir / name)
        return book.groups()

    chaos = groups("grpo_chaos_economy_trainer_state.json")
    assert chaos["reward"][:6] == [
        "reward",
        "rewards/diversity_reward_fn/mean",
        "rewards/format_reward_fn/mean",
        "rewards/oversight_reward_fn/mean",
        "rewards/pnl_reward_fn/mean",
        "rewards/risk_reward_fn/mean",
    ]
    assert chaos["kl"] == ["kl"] and "frac_reward_zero_std" in chaos["other"]
    assert "kl" not in groups("grpo_no_kl_json_format_reward_trainer_state.json")
    sft = groups("sft_trl_unsloth_nlcli_trainer_state.json")
    assert sft["eval"] == ["eval_loss"] and "epoch" not in str(sft)
    orpo = groups("orpo_llamafactory_chatglm_trainer_state.json")
    assert orpo["loss"] == ["loss", "odds_ratio_loss", "sft_loss"]
    assert "rewards/margins" in orpo["reward"]
