"""Dashboard adapters for the GPU and metrics panes: they feed the session model's records (as of the
selected point in time) to the panes from `gpu_pane.py` and `metrics_pane.py`."""

from __future__ import annotations

from typing import Any

from textual import work
from textual.binding import Binding
from textual.containers import Vertical
from textual.worker import get_current_worker

from ...telemetry.series import MetricsBook
from ..glyphs import Glyphs
from .gpu_pane import GpuPane
from .metrics_pane import MetricsPane

SYNC_REBUILD = 3_000  # records; bigger books are rebuilt off the UI thread (replay seeking backwards)

Record = tuple[int, str, int, dict[str, float]]  # (seq, job_id, step, values)


class MetricsView(Vertical):
    """Keeps a MetricsBook in step with the records shown: appends when time moves forward, rebuilds when
    it moves back (in a thread when large, so a seek never waits for it)."""

    DEFAULT_CSS = "MetricsView { height: 1fr; }"
    BINDINGS = [Binding("c", "compare", "compare runs", id="metrics.compare", show=False)]

    def __init__(self, **kw):
        super().__init__(**kw)
        self.overlay: dict[str, list[tuple[int, dict[str, float]]]] = {}  # other sessions' runs shown too
        self.book = MetricsBook()
        self._count = 0  # records in the book
        self._records: list[Record] = []
        self._alert_list: list[dict[str, Any]] = []
        self._last_seq = 0  # seq of the last record in the book
        self._alerts = 0
        self._generation = 0
        self._replay_book = None  # replay: the session's book as of the selected event (see show_book)

    def compose(self):
        yield MetricsPane(id="metrics-pane")

    def show(self, records: list[Record], alerts: list[dict[str, Any]]) -> None:
        forward = len(records) >= self._count and (
            self._count == 0 or records[self._count - 1][0] == self._last_seq
        )
        small = len(records) - self._count <= SYNC_REBUILD
        if forward and small and len(alerts) >= self._alerts:
            for _, job_id, step, values in records[self._count :]:
                self.book.add(job_id, step, values)
            for alert in alerts[self._alerts :]:
                self.book.add_alert(alert)
            self._mark(records, alerts)
            self.query_one(MetricsPane).update_book(self.book)
            return
        self._generation += 1
        if len(records) <= SYNC_REBUILD:
            self.book = _build(records, alerts, self.overlay)
            self._mark(records, alerts)
            self.query_one(MetricsPane).update_book(self.book)
            return
        self._rebuild(self._generation, list(records), list(alerts), dict(self.overlay))

    @work(thread=True, exclusive=True, group="metrics-rebuild")
    def _rebuild(self, generation: int, records: list[Record], alerts: list, overlay: dict) -> None:
        """Off the UI thread: build the book, then swap it in unless a newer seek superseded it."""
        book = _build(records, alerts, overlay)
        if get_current_worker().is_cancelled:
            return
        try:
            self.app.call_from_thread(self._swap, generation, book, records, alerts)
        except RuntimeError:  # the app closed meanwhile
            pass

    def show_book(self, book) -> None:
        """Replay: plot a book as of the selected event (see `MetricsTimeline.as_of`), at once."""
        self._generation += 1  # any rebuild still running for `show` is stale now
        self._replay_book = book
        self.book = self._overlaid(book)
        pane = self.query_one(MetricsPane)
        pane.update_book(self.book)
        pane.draw()

    def _overlaid(self, book):
        if not self.overlay:
            return book
        from ..history import OverlaidBook

        return OverlaidBook(book, _build([], [], self.overlay))

    def _swap(self, generation: int, book: MetricsBook, records: list[Record], alerts: list) -> None:
        if generation != self._generation:
            return  # a newer seek superseded this rebuild
        self.book = book
        self._mark(records, alerts)
        self.query_one(MetricsPane).update_book(book)

    # -- compare runs ------------------------------------------------------------------------------

    def action_compare(self) -> None:
        """Choose the curves to overlay: this session's jobs and other sessions' (see compare.py)."""
        from .compare import CompareModal, Run, other_runs

        own = [Run(job, None, job, "this session") for job in self.book.jobs() if job not in self.overlay]
        others: list[Run] = []
        runtime = getattr(self.app, "runtime", None)
        if runtime is not None:
            conn = runtime.store.connect()
            try:
                others = other_runs(conn, getattr(getattr(self.screen, "model", None), "session_id", None))
            finally:
                conn.close()
        pane = self.query_one(MetricsPane)
        chosen = pane.only if pane.only is not None else {r.key for r in own} | set(self.overlay)
        self.app.push_screen(CompareModal(own + others, chosen), lambda keys: self.compare(keys, others))

    def compare(self, keys: set[str] | None, available: list | None = None) -> None:
        """Overlay exactly the runs in `keys` (loading other sessions' from the store); None: no change."""
        if keys is None:
            return
        from .compare import load_run

        wanted = {r.key: r for r in available or [] if r.key in keys and r.key not in self.overlay}
        if wanted and getattr(self.app, "runtime", None) is not None:
            conn = self.app.runtime.store.connect()
            try:
                for key, run in wanted.items():
                    self.overlay[key] = load_run(conn, run)
            finally:
                conn.close()
        for key in [k for k in self.overlay if k not in keys]:
            del self.overlay[key]
        if self._replay_book is not None:
            self.book = self._overlaid(self._replay_book)
        else:
            self.book = _build(self._records[: self._count], self._alert_list[: self._alerts], self.overlay)
        pane = self.query_one(MetricsPane)
        own = set(self.book.jobs()) - set(self.overlay)
        pane.only = None if keys >= own and not self.overlay else set(keys)
        pane.update_book(self.book)

    def _mark(self, records: list[Record], alerts: list) -> None:
        self._records, self._alert_list = records, alerts
        self._count = len(records)
        self._last_seq = records[-1][0] if records else 0
        self._alerts = len(alerts)


def _build(records: list[Record], alerts: list[dict[str, Any]], overlay: dict | None = None) -> MetricsBook:
    book = MetricsBook()
    for _, job_id, step, values in records:
        book.add(job_id, step, values)
    for key, run in (overlay or {}).items():
        for step, values in run:
            book.add(key, step, values)
    for alert in alerts:
        book.add_alert(alert)
    return book


class GpuView(Vertical):
    DEFAULT_CSS = "GpuView { height: 1fr; }"

    def __init__(self, glyphs: Glyphs | None = None, **kw):
        super().__init__(**kw)
        self.glyphs = glyphs or Glyphs()

    def compose(self):
        yield GpuPane(id="gpu-pane")

    def show(self, snapshot: dict[str, Any] | None, history: list[dict[str, Any]]) -> None:
        self.query_one(GpuPane).update_snapshot(snapshot, history)
