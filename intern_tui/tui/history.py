"""Compact, seekable records of a long session, for replay.

A replayed session can hold a million events; keeping each one as a Python object costs more than a GB.
Replay keeps only what a seek needs to find things (sequence numbers in arrays, metric values in the
series the plots draw) and reads the bulky payloads (job log chunks, GPU samples) back from SQLite when a
pane shows them, a few hundred at a time. So a seek costs what is on screen, not what is in the log.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
from array import array
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from ..metric_values import to_number
from ..store.queries import payloads_by_seq
from ..telemetry.series import Downsampled, MetricsBook, Series, alerts_matching, downsample

CACHE_SIZE = 4_096  # parsed payloads kept (a log pane's tail plus a GPU sparkline's history, with room)
FETCH_CHUNK = 500  # seqs per SELECT … IN (…)


class StoredPayloads:
    """Payloads of one session's events by seq, read from the store on demand (with an LRU cache).

    Used from the UI thread only; it has its own connection."""

    def __init__(self, connect: Callable[[], sqlite3.Connection], session_id: str):
        self._connect = connect
        self._conn: sqlite3.Connection | None = None
        self.session_id = session_id
        self._cache: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get_many(self, seqs: Iterable[int]) -> dict[int, dict[str, Any]]:
        with self._lock:
            out: dict[int, dict[str, Any]] = {}
            missing = []
            for seq in seqs:
                hit = self._cache.get(seq)
                if hit is None:
                    missing.append(seq)
                else:
                    self._cache.move_to_end(seq)
                    out[seq] = hit
            if missing:
                if self._conn is None:
                    self._conn = self._connect()
                for i in range(0, len(missing), FETCH_CHUNK):
                    part = missing[i : i + FETCH_CHUNK]
                    for seq, value in payloads_by_seq(self._conn, self.session_id, part):
                        out[seq] = self._cache[seq] = value
                while len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
            return out

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class HeldPayloads:
    """The same interface over payloads kept in memory (a model folded from events, not from a store)."""

    def __init__(self) -> None:
        self._held: dict[int, Any] = {}

    def hold(self, seq: int, payload: dict[str, Any] | None, payload_json: str) -> None:
        self._held[seq] = payload if payload is not None else payload_json

    def get_many(self, seqs: Iterable[int]) -> dict[int, dict[str, Any]]:
        out = {}
        for seq in seqs:
            value = self._held.get(seq)
            if isinstance(value, str):
                value = self._held[seq] = json.loads(value)
            if value is not None:
                out[seq] = value
        return out

    def close(self) -> None:
        pass


class MetricsTimeline:
    """Every metric of a session in one `MetricsBook`, with the seq of the event behind each point, so the
    plots "as of event N" are a binary search per series instead of a rebuild from the first event."""

    def __init__(self) -> None:
        self.book = MetricsBook()
        self._seqs: dict[tuple[str, str], array] = {}  # (metric, job) -> seq of each point, in order
        # Series where a point landed before the end (a resumed job logging earlier steps again): their
        # points are mapped step -> seq instead, and filtered by seq when drawn.
        self._by_step: dict[tuple[str, str], dict[float, int]] = {}
        self._counts: dict[str, int] = {}
        self._job_last: dict[str, float] = {}  # the last step logged by each job
        self.alert_seqs: list[int] = []

    def add(self, seq: int, job_id: str, step: Any, values: dict[str, Any]) -> None:
        count = self._counts.get(job_id, 0)
        self._counts[job_id] = count + 1
        x = to_number(step)
        if x is None or not math.isfinite(x):
            x = float(count)  # what the book does with a missing step
        last = self._job_last.get(job_id)
        if last is not None and x <= last:  # rare: a point before the end of some series
            for name in values:
                key = (name, job_id)
                series = self.book.get(name, job_id)
                if series is not None and key not in self._by_step and len(series) and x <= series.steps[-1]:
                    self._by_step[key] = dict(zip(series.steps, self._seqs[key], strict=True))
        else:
            self._job_last[job_id] = x
        self.book.add(job_id, step, values)
        by_step, all_seqs = self._by_step, self._seqs
        for name, value in values.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue  # the book keeps numbers only
            key = (name, job_id)
            if key in by_step:
                by_step[key][x] = seq
            else:
                seqs = all_seqs.get(key)
                if seqs is None:
                    seqs = all_seqs[key] = array("q")
                seqs.append(seq)

    def add_alert(self, seq: int, payload: dict[str, Any]) -> None:
        self.book.add_alert(payload)
        self.alert_seqs.append(seq)

    def as_of(self, at: int | None) -> MetricsBook | BookAsOf:
        return self.book if at is None else BookAsOf(self, at)

    def has_point(self, name: str, job_id: str, at: int) -> bool:
        """Whether the series has a point as of `at` (cheap: its first point's seq)."""
        key = (name, job_id)
        if key in self._by_step:
            return min(self._by_step[key].values()) <= at
        seqs = self._seqs.get(key)
        return bool(seqs) and seqs[0] <= at

    def points_at(self, name: str, job_id: str, at: int) -> SeriesPrefix | None:
        series = self.book.get(name, job_id)
        if series is None:
            return None
        key = (name, job_id)
        if key in self._by_step:
            seqs = self._by_step[key]
            return SeriesPrefix.of_points(series, [i for i, s in enumerate(series.steps) if seqs[s] <= at])
        n = bisect_right(self._seqs[key], at)
        return None if n == 0 else SeriesPrefix(series, n)


class SeriesPrefix:
    """The first points of a Series (or some of them), read-only, with the interface the metrics pane
    plots. Nothing is copied until the plot asks for the points."""

    __slots__ = ("_series", "_n", "_keep", "_points", "version", "_cache")

    def __init__(self, series: Series, n: int, keep: list[int] | None = None):
        self._series, self._n, self._keep = series, n, keep
        self._points: tuple[array, array] | None = None
        self.version = (id(series), n, series.version if keep is None and n == len(series) else -1)
        self._cache: tuple[tuple, Downsampled] | None = None

    @classmethod
    def of_points(cls, series: Series, keep: list[int]) -> SeriesPrefix | None:
        return cls(series, len(keep), keep) if keep else None

    def _arrays(self) -> tuple[array, array]:
        if self._points is None:
            s, keep = self._series, self._keep
            if keep is None:
                self._points = (s.steps[: self._n], s.values[: self._n])
            else:
                self._points = (
                    array("d", (s.steps[i] for i in keep)),
                    array("d", (s.values[i] for i in keep)),
                )
        return self._points

    @property
    def steps(self) -> array:
        return self._arrays()[0]

    @property
    def values(self) -> array:
        return self._arrays()[1]

    def __len__(self) -> int:
        return self._n

    def last(self) -> tuple[float, float] | None:
        if self._keep is None:
            i = self._n - 1
            return (self._series.steps[i], self._series.values[i])
        steps, values = self._arrays()
        return (steps[-1], values[-1])

    def downsampled(self, buckets: int, lo: float | None = None, hi: float | None = None) -> Downsampled:
        key = (buckets, lo, hi)
        if self._cache is None or self._cache[0] != key:
            steps, values = self._arrays()
            finite = True if self._series.nonfinite == 0 else None
            self._cache = (key, downsample(steps, values, buckets, lo, hi, all_finite=finite))
        return self._cache[1]


class BookAsOf:
    """A read-only MetricsBook "as of event `at`": what the metrics pane reads, nothing is copied but the
    points of the series it asks for."""

    def __init__(self, timeline: MetricsTimeline, at: int):
        self._timeline = timeline
        self._book = timeline.book
        self.at = at
        self._views: dict[tuple[str, str], Any] = {}
        n_alerts = bisect_right(timeline.alert_seqs, at)
        self.alerts = self._book.alerts[:n_alerts]
        self.alerts_version = n_alerts
        self.version = (at, n_alerts)
        self._groups: dict[str, list[str]] | None = None

    def get(self, name: str, job_id: str):
        key = (name, job_id)
        if key not in self._views:
            self._views[key] = self._timeline.points_at(name, job_id, self.at)
        return self._views[key]

    def jobs(self) -> list[str]:
        names = self._book.names()
        return [j for j in self._book.jobs() if any(self._timeline.has_point(n, j, self.at) for n in names)]

    def names(self) -> list[str]:
        jobs = self._book.jobs()
        return [n for n in self._book.names() if any(self._timeline.has_point(n, j, self.at) for j in jobs)]

    def groups(self) -> dict[str, list[str]]:
        if self._groups is None:
            present = set(self.names())
            self._groups = {
                g: [n for n in names if n in present]
                for g, names in self._book.groups().items()
                if any(n in present for n in names)
            }
        return self._groups

    def alerts_for(self, metric: str | None = None, job_id: str | None = None) -> list[dict[str, Any]]:
        return alerts_matching(self.alerts, metric, job_id)

    def latest(self, job_id: str) -> dict[str, float]:
        out = {}
        for name in self._book.names():
            view = self.get(name, job_id)
            if view is not None and (last := view.last()) is not None:
                out[name] = last[1]
        return out


class OverlaidBook:
    """A book (a MetricsBook or a BookAsOf) with other sessions' runs laid over it (compare runs in a
    replay): reads go to the base, then to the overlay; the overlay's alerts are not shown."""

    def __init__(self, base, overlay: MetricsBook):
        self._base, self._overlay = base, overlay
        self.alerts = base.alerts
        self.alerts_version = base.alerts_version
        self.version = (base.version, overlay.version)

    def get(self, name: str, job_id: str):
        found = self._base.get(name, job_id)
        return found if found is not None else self._overlay.get(name, job_id)

    def jobs(self) -> list[str]:
        return self._base.jobs() + [j for j in self._overlay.jobs() if j not in self._base.jobs()]

    def names(self) -> list[str]:
        return sorted(set(self._base.names()) | set(self._overlay.names()))

    def groups(self) -> dict[str, list[str]]:
        groups = {g: list(names) for g, names in self._base.groups().items()}
        for g, names in self._overlay.groups().items():
            groups.setdefault(g, [])
            groups[g] += [n for n in names if n not in groups[g]]
        return groups

    def series(self, name: str) -> dict[str, tuple[Any, Any]]:
        out = {}
        for job in self.jobs():
            found = self.get(name, job)
            if found is not None:
                out[job] = (found.steps, found.values)
        return out

    def alerts_for(self, metric: str | None = None, job_id: str | None = None) -> list[dict[str, Any]]:
        return self._base.alerts_for(metric, job_id)

    def latest(self, job_id: str) -> dict[str, float]:
        return self._base.latest(job_id) or self._overlay.latest(job_id)


def fold_history(conn: sqlite3.Connection, session_id: str, model, upto_seq: int | None = None) -> None:
    """Fold a session's stored history into a live `SessionModel` (attach, resume): what the live window
    keeps in full, and of what it would drop anyway — log lines beyond each job's kept tail, GPU samples
    beyond the kept history — only the count. A long session's job logs are most of its events, so this
    reads a fraction of the JSON the plain fold would."""
    from ..store.queries import (
        gpu_history_start,
        iter_events,
        iter_history,
        log_tail_starts,
        log_totals_before,
    )

    if not model.live or not model.max_log_lines or model.gpu.maxlen is None:
        model.apply_all(iter_events(conn, session_id, upto_seq=upto_seq))
        return
    log_starts = log_tail_starts(conn, session_id, model.max_log_lines, upto_seq)
    gpu_from = gpu_history_start(conn, session_id, model.gpu.maxlen, upto_seq)
    model.apply_all(
        iter_history(conn, session_id, log_starts=log_starts, gpu_from=gpu_from, upto_seq=upto_seq)
    )
    # Chunks older than every job's kept tail never left SQLite: their lines are counted there.
    with model.lock:
        for job_id, (lines, progress) in log_totals_before(
            conn, session_id, min(log_starts.values(), default=0)
        ).items():
            job = model.jobs.get(job_id)
            if job is not None:
                job.log_total += lines
                if job.progress is None:  # no later chunk drew a progress bar: the last older one stands
                    job.progress = progress
