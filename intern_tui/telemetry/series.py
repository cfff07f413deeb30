"""Training metrics for plotting: a per-job store of (step, value) series, and min/max downsampling.

Pure Python, no UI. `MetricsBook` is fed from `job_metric` and `alert` events (live or replayed) and
answers what a plot needs: the series of one metric per job, the latest values, the available metric
names in groups, and alert markers. `downsample` shrinks a series to about two points per plot column
keeping each bucket's minimum and maximum, so a single spike in 100k points stays visible.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..metric_values import to_number

# Logged by trainers but not worth a plot (counters, timings, end-of-run summaries).
BOOKKEEPING = frozenset(
    {
        "step",
        "epoch",
        "total_flos",
        "train_runtime",
        "train_samples_per_second",
        "train_steps_per_second",
        "train_loss",
        "eval_runtime",
        "eval_samples_per_second",
        "eval_steps_per_second",
    }
)

GROUPS = ("loss", "reward", "kl", "learning_rate", "grad_norm", "eval", "other")


@dataclass(frozen=True, slots=True)
class Downsampled:
    """A plottable series: finite points (ascending steps) and where the value was NaN or infinite."""

    steps: list[float]
    values: list[float]
    nonfinite: list[tuple[float, float]]  # (step, value) with value NaN, inf or -inf; one per bucket


def _all_finite(values: Sequence[float]) -> bool:
    # One C-speed pass: the sum is finite unless a value is NaN/inf (or huge values overflow: then we scan).
    return math.isfinite(sum(values))


def downsample(
    steps: Sequence[float],
    values: Sequence[float],
    buckets: int,
    lo: float | None = None,
    hi: float | None = None,
    all_finite: bool | None = None,
) -> Downsampled:
    """Shrink a series (steps ascending) to at most 2 points per bucket, keeping each bucket's min and max.

    Buckets split the step range [lo, hi] (default: the series' own range) evenly, so several series
    drawn on one x-axis line up. NaN/inf values never reach the plotted points (plotext can't draw them);
    their steps come back in `nonfinite`, at most one per bucket, to be drawn as markers.
    """
    n = len(steps)
    buckets = max(1, int(buckets))
    if n == 0:
        return Downsampled([], [], [])
    if all_finite is None:
        all_finite = _all_finite(values)
    nonfinite: list[tuple[float, float]] = []
    if not all_finite:
        steps, values, bad = _split_nonfinite(steps, values)
        n = len(steps)
        nonfinite = _one_per_bucket(bad, buckets, lo, hi)
    if n <= 2 * buckets:
        return Downsampled(list(steps), list(values), nonfinite)
    lo = steps[0] if lo is None else lo
    hi = steps[-1] if hi is None else hi
    width = (hi - lo) / buckets if hi > lo else 0.0
    out_x: list[float] = []
    out_y: list[float] = []
    start = bisect_left(steps, lo)
    for b in range(buckets):
        end = n if b == buckets - 1 or width == 0.0 else bisect_left(steps, lo + width * (b + 1), start)
        count = end - start
        if count <= 2:
            out_x.extend(steps[start:end])
            out_y.extend(values[start:end])
        elif count:
            chunk = values[start:end]
            low, high = min(chunk), max(chunk)
            i_low, i_high = chunk.index(low), chunk.index(high)
            first, second = sorted((i_low, i_high))
            out_x.append(steps[start + first])
            out_y.append(chunk[first])
            if second != first:
                out_x.append(steps[start + second])
                out_y.append(chunk[second])
        start = end
        if start >= n:
            break
    return Downsampled(out_x, out_y, nonfinite)


def _split_nonfinite(
    steps: Sequence[float], values: Sequence[float], block: int = 1024
) -> tuple[array, array, list[tuple[float, float]]]:
    """Separate NaN/inf points. Blocks whose sum is finite are copied whole (C speed); only blocks that
    hold a bad value are scanned in Python, so a few NaNs in 100k points cost little."""
    keep_x, keep_y = array("d"), array("d")
    bad: list[tuple[float, float]] = []
    for start in range(0, len(values), block):
        chunk_y = values[start : start + block]
        chunk_x = steps[start : start + block]
        if math.isfinite(sum(chunk_y)):
            keep_x.extend(chunk_x)
            keep_y.extend(chunk_y)
            continue
        for x, y in zip(chunk_x, chunk_y, strict=True):
            if math.isfinite(y):
                keep_x.append(x)
                keep_y.append(y)
            else:
                bad.append((x, y))
    return keep_x, keep_y, bad


def _one_per_bucket(
    points: list[tuple[float, float]], buckets: int, lo: float | None, hi: float | None
) -> list[tuple[float, float]]:
    if len(points) <= buckets:
        return points
    lo = points[0][0] if lo is None else lo
    hi = points[-1][0] if hi is None else hi
    width = (hi - lo) / buckets or 1.0
    out: dict[int, tuple[float, float]] = {}
    for step, value in points:
        out.setdefault(int((step - lo) / width), (step, value))
    return list(out.values())


class Series:
    """One metric of one job: steps kept ascending and unique (a repeated step replaces its value)."""

    __slots__ = ("steps", "values", "version", "nonfinite", "_cache")

    def __init__(self) -> None:
        self.steps = array("d")
        self.values = array("d")
        self.version = 0
        self.nonfinite = 0  # how many values are NaN/inf (0 lets downsampling skip a scan)
        self._cache: tuple[tuple, Downsampled] | None = None

    def __len__(self) -> int:
        return len(self.steps)

    def add(self, step: float, value: float) -> None:
        steps = self.steps
        if not steps or step > steps[-1]:  # the common case: the next logging step
            steps.append(step)
            self.values.append(value)
        else:
            i = bisect_left(steps, step)
            if i < len(steps) and steps[i] == step:  # the same step again (another source, a resume)
                self.nonfinite -= not math.isfinite(self.values[i])
                self.values[i] = value
            else:
                steps.insert(i, step)
                self.values.insert(i, value)
        self.nonfinite += not math.isfinite(value)
        self.version += 1

    def last(self) -> tuple[float, float] | None:
        return (self.steps[-1], self.values[-1]) if self.steps else None

    def downsampled(self, buckets: int, lo: float | None = None, hi: float | None = None) -> Downsampled:
        """`downsample` of this series, cached until the series changes."""
        key = (self.version, buckets, lo, hi)
        if self._cache is None or self._cache[0] != key:
            result = downsample(self.steps, self.values, buckets, lo, hi, all_finite=self.nonfinite == 0)
            self._cache = (key, result)
        return self._cache[1]


class MetricsBook:
    """Every job's metrics, fed from `job_metric` and `alert` events. Use it from one thread (the UI's).

    `version` changes on every update, `version_of(name)` when that metric (or any alert) changes, so a
    widget redraws only when what it shows changed.
    """

    def __init__(self) -> None:
        self._series: dict[str, dict[str, Series]] = {}  # name -> job_id -> Series
        self._latest: dict[str, tuple[float, dict[str, float]]] = {}  # job_id -> (step, values at step)
        self._jobs: list[str] = []
        self._counts: dict[str, int] = {}
        self._groups: dict[str, list[str]] | None = None
        self.alerts: list[dict[str, Any]] = []
        self.version = 0
        self.alerts_version = 0

    # ---- feeding ----

    def apply(self, kind: Any, payload: Mapping[str, Any] | None = None) -> bool:
        """Feed one event (an `Event`, or kind + payload); returns whether it changed the book."""
        if payload is None:
            kind, payload = getattr(kind, "kind", None), getattr(kind, "payload", None)
        if not isinstance(payload, Mapping):
            return False
        if kind == "job_metric":
            values = payload.get("values")
            if not isinstance(values, Mapping):
                return False
            return self.add(str(payload.get("job_id") or "job"), payload.get("step"), values) > 0
        if kind == "alert":
            self.add_alert(payload)
            return True
        return False

    def add(self, job_id: str, step: Any, values: Mapping[str, Any]) -> int:
        """Record one logging step of a job; returns how many values were numeric (others are skipped).

        A missing step gets the job's running entry count, so step-less logs still plot in order.
        """
        count = self._counts.get(job_id, 0)
        step_value = to_number(step)
        if step_value is None or not math.isfinite(step_value):
            step_value = float(count)
        if job_id not in self._counts:
            self._jobs.append(job_id)
        self._counts[job_id] = count + 1
        clean: dict[str, float] = {}
        for name, raw in values.items():
            value = to_number(raw)
            if value is None:
                continue
            clean[name] = value
            by_job = self._series.get(name)
            if by_job is None:
                by_job = self._series[name] = {}
                self._groups = None
            series = by_job.get(job_id)
            if series is None:
                series = by_job[job_id] = Series()
            series.add(step_value, value)
        if clean:
            last_step, latest = self._latest.get(job_id, (step_value, {}))
            if step_value > last_step:
                latest = {}
            if step_value >= last_step:
                latest.update(clean)
                self._latest[job_id] = (step_value, latest)
            self.version += 1
        return len(clean)

    def add_alert(self, payload: Mapping[str, Any]) -> None:
        """Record an `alert` event payload {job_id, kind, severity, message, step, metric}."""
        alert = {k: payload.get(k) for k in ("job_id", "kind", "severity", "message", "step", "metric")}
        alert["step"] = to_number(alert["step"])
        self.alerts.append(alert)
        self.alerts_version += 1
        self.version += 1

    # ---- reading ----

    def jobs(self) -> list[str]:
        """Job ids in the order their first metric arrived (stable colours in a legend)."""
        return list(self._jobs)

    def names(self) -> list[str]:
        return sorted(self._series)

    def get(self, name: str, job_id: str) -> Series | None:
        return self._series.get(name, {}).get(job_id)

    def series(self, name: str) -> dict[str, tuple[array, array]]:
        """{job_id: (steps, values)} of one metric, steps ascending; values may hold NaN/inf."""
        return {job: (s.steps, s.values) for job, s in self._series.get(name, {}).items()}

    def version_of(self, name: str) -> tuple[int, int]:
        """Changes whenever the plot of `name` would change (its data or the alerts)."""
        return sum(s.version for s in self._series.get(name, {}).values()), self.alerts_version

    def latest(self, job_id: str) -> dict[str, float]:
        """The values logged at the job's latest step."""
        return dict(self._latest.get(job_id, (0.0, {}))[1])

    def latest_step(self, job_id: str) -> float | None:
        entry = self._latest.get(job_id)
        return entry[0] if entry else None

    def last_value(self, name: str, job_id: str) -> tuple[float, float] | None:
        """(step, value) of the most recent point of one metric of one job."""
        series = self.get(name, job_id)
        return series.last() if series is not None else None

    def groups(self) -> dict[str, list[str]]:
        """Available metric names by group (only non-empty groups, in `GROUPS` order)."""
        if self._groups is None:
            self._groups = group_names(self._series)
        return self._groups

    def alerts_for(self, metric: str | None = None, job_id: str | None = None) -> list[dict[str, Any]]:
        """Alerts with a step that concern `metric` (or name no metric), optionally of one job."""
        return alerts_matching(self.alerts, metric, job_id)


def alerts_matching(
    alerts: Iterable[dict[str, Any]], metric: str | None, job_id: str | None
) -> list[dict[str, Any]]:
    """The alerts with a step that concern `metric` (or name no metric) and `job_id` (or name no job);
    None matches every metric or job."""
    return [
        a
        for a in alerts
        if a["step"] is not None
        and (metric is None or a["metric"] in (None, metric))
        and (job_id is None or a["job_id"] in (None, job_id))
    ]


def group_names(names: Iterable[str]) -> dict[str, list[str]]:
    """Sort metric names into plot groups; the group's headline metric comes first."""
    groups: dict[str, list[str]] = {g: [] for g in GROUPS}
    for name in sorted(names):
        if name in BOOKKEEPING:
            continue
        groups[_group_of(name)].append(name)
    first = {"loss": "loss", "reward": "reward", "kl": "kl", "learning_rate": "learning_rate"}
    first |= {"grad_norm": "grad_norm", "eval": "eval_loss"}
    for group, headline in first.items():
        if headline in groups[group]:
            groups[group].remove(headline)
            groups[group].insert(0, headline)
    # Per-reward-function means right after the headline reward; their std devs last.
    groups["reward"].sort(key=lambda n: (n != "reward", not _is_reward_fn_mean(n), n.endswith("std"), n))
    return {g: names for g, names in groups.items() if names}


def _is_reward_fn_mean(name: str) -> bool:
    return name.startswith("rewards/") and name.endswith("/mean")


def _group_of(name: str) -> str:
    lower = name.lower()
    if lower.startswith("eval_") or lower.startswith("eval/"):
        return "eval"
    if lower in ("learning_rate", "lr") or lower.endswith("/learning_rate"):
        return "learning_rate"
    if lower in ("grad_norm", "gradient_norm") or lower.endswith("/grad_norm"):
        return "grad_norm"
    if lower == "kl" or lower.endswith("/kl") or lower.startswith("kl_") or lower.startswith("kl/"):
        return "kl"
    if lower in ("reward", "reward_std") or lower.startswith("rewards/"):
        return "reward"
    if "loss" in lower:
        return "loss"
    return "other"
