"""The dashboard: header, approval queue, agent stream, and the telemetry/files/jobs tabs.

It renders a `SessionModel` as of a point in time (`at=None` is live). It never talks to the agent: key
actions live on the App, which forwards them to the Supervisor.
"""

from __future__ import annotations

import time

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import TabbedContent, TabPane

from ..glyphs import Glyphs
from ..state import SessionModel
from ..widgets.approvals import ApprovalQueue
from ..widgets.evals import EvalsPane
from ..widgets.files import FilesPane
from ..widgets.footer import KeyFooter
from ..widgets.header import StatusHeader
from ..widgets.jobs import JobSelected, JobsPane
from ..widgets.stream import LIVE_WINDOW, REPLAY_WINDOW, AgentStream, LiveReply
from ..widgets.telemetry import GpuView, MetricsView

# Minimum seconds between redraws of the high-rate areas. A frame that redraws a scrolling log, a table and
# a plot costs tens of milliseconds; doing it at most a few times a second keeps keys responsive in a flood.
REDRAW_INTERVAL = {"logs": 0.2, "jobs": 1.0, "gpu": 0.5, "metrics": 0.25}
NARROW = 120  # below this width the stream and the tabs take turns instead of sharing the screen
PANES = {"metrics": "tab-metrics", "gpu": "tab-gpu", "files": "tab-files", "jobs": "tab-jobs",
         "evals": "tab-evals"}  # fmt: skip


class DashboardScreen(Screen):
    DEFAULT_CSS = """
    DashboardScreen { layout: vertical; }
    #main { height: 1fr; }
    #left { width: 3fr; }
    #right { width: 2fr; min-width: 44; }
    DashboardScreen.-narrow #right { display: none; width: 1fr; }
    DashboardScreen.-narrow.-show-right #right { display: block; }
    DashboardScreen.-narrow.-show-right #left { display: none; }
    DashboardScreen.-zoom-left #right { display: none; }
    DashboardScreen.-zoom-right #left { display: none; }
    ApprovalQueue.-empty { display: none; }
    TabbedContent { height: 1fr; }
    TabPane { padding: 0; }
    """

    def __init__(self, model: SessionModel, glyphs: Glyphs, mode: str = "live"):
        super().__init__()
        self.model = model
        self.glyphs = glyphs
        self.mode = mode
        self.at: int | None = None
        self.dirty: set[str] = {"stream", "approvals", "files", "jobs", "logs", "metrics", "gpu", "evals"}
        self.ready = False  # set once composed and mounted: the App's pump waits for it
        self._drawn: dict[str, float] = {}  # area -> when it was last drawn (monotonic)
        self.live_gpu: tuple | None = None  # (snapshot, history) from the sampler, at full rate (live only)

    def compose(self) -> ComposeResult:
        yield StatusHeader(id="header")
        yield from self.compose_top()
        queue = ApprovalQueue(id="approvals")
        queue.add_class("-empty")
        yield queue
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield AgentStream(self.glyphs, id="stream")
                yield LiveReply(self.glyphs, id="live-reply")
            with Vertical(id="right"):
                with TabbedContent(id="tabs", initial="tab-metrics"):
                    with TabPane("Metrics", id="tab-metrics"):
                        yield MetricsView(id="metrics")
                    with TabPane("GPU", id="tab-gpu"):
                        yield GpuView(self.glyphs, id="gpu")
                    with TabPane("Files", id="tab-files"):
                        yield FilesPane(id="files")
                    with TabPane("Jobs", id="tab-jobs"):
                        yield JobsPane(id="jobs")
                    with TabPane("Evals", id="tab-evals"):
                        yield EvalsPane(id="evals")
        yield KeyFooter(compact=True)

    def compose_top(self) -> ComposeResult:
        """Extra rows under the header (replay adds its timeline here)."""
        return iter(())

    def on_mount(self) -> None:
        self.ready = True
        self.query_one(StatusHeader).mode = self.mode
        self._layout(self.size.width)
        self.refresh_views(set(self.dirty), rebuild=True)
        self.query_one(AgentStream).focus()

    def on_resize(self, event) -> None:
        self._layout(event.size.width)

    def _layout(self, width: int) -> None:
        self.set_class(width < NARROW, "-narrow")

    # -- panes ------------------------------------------------------------------------------------------

    def show_pane(self, name: str) -> None:
        if name == "stream":
            self.remove_class("-show-right")
            self.query_one(AgentStream).focus()
            return
        tabs = self.query_one(TabbedContent)
        tabs.active = PANES[name]
        self.add_class("-show-right")
        widget = {
            "metrics": MetricsView,
            "gpu": GpuView,
            "files": FilesPane,
            "jobs": JobsPane,
            "evals": EvalsPane,
        }[name]
        target = self.query_one(widget)
        focusable = target if target.can_focus else next((w for w in target.query("*") if w.can_focus), None)
        if focusable is not None:
            focusable.focus()
        self.refresh_views({name, "logs"} if name == "jobs" else {name})

    def toggle_zoom(self) -> None:
        if self.has_class("-zoom-left") or self.has_class("-zoom-right"):
            self.remove_class("-zoom-left", "-zoom-right")
            return
        focused = self.focused
        in_right = focused is not None and any(a.id == "right" for a in focused.ancestors_with_self)
        self.add_class("-zoom-right" if in_right else "-zoom-left")

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self.refresh_views(set(self.dirty) & {"metrics", "gpu", "files", "jobs", "logs", "evals"})

    def on_agent_stream_needs_rebuild(self, event: AgentStream.NeedsRebuild) -> None:
        stream = self.query_one(AgentStream)
        stream.rebuild(
            self.model.stream_at(self.at), window=REPLAY_WINDOW if self.at is not None else LIVE_WINDOW
        )
        if self.at is None:
            stream.rendered += self.model.evicted  # live counts include items evicted from memory
        self.dirty.discard("stream")

    def on_job_selected(self, event: JobSelected) -> None:
        self.refresh_views({"logs"}, rebuild=True)

    def _visible(self, name: str) -> bool:
        if self.has_class("-zoom-left") or (self.has_class("-narrow") and not self.has_class("-show-right")):
            return False
        return self.query_one(TabbedContent).active == PANES[name]

    # -- rendering --------------------------------------------------------------------------------------

    def refresh_views(self, changed: set[str], rebuild: bool = False) -> list:
        """Redraw what changed (hidden panes are marked dirty and drawn when shown). Returns the approval
        requests that appeared since the last call (the App rings the bell for them)."""
        with self.model.lock:  # a replay still loading folds events in another thread
            return self._refresh_views(changed, rebuild)

    def _refresh_views(self, changed: set[str], rebuild: bool) -> list:
        model, at = self.model, self.at
        self.dirty |= changed
        self.query_one(StatusHeader).render_model(model, at)
        self.query_one(LiveReply).show(model.live_call if at is None else None, time.time())
        new_requests = []
        stream = self.query_one(AgentStream)
        if "stream" in self.dirty and stream.shown:  # hidden: drawn (at the right width) when shown again
            if rebuild:
                stream.rebuild(model.stream_at(at), window=REPLAY_WINDOW if at is not None else LIVE_WINDOW)
                if at is None:
                    stream.rendered += model.evicted
            else:
                start = max(0, stream.rendered - model.evicted)
                stream.append_items(model.stream_at(at)[start:])
                stream.rendered = model.evicted + len(model.stream_at(at))
            self.dirty.discard("stream")
        if "approvals" in self.dirty:
            queue = self.query_one(ApprovalQueue)
            pending = model.pending_approvals(at)
            known = {a.id for a in queue.items}
            new_requests = [a for a in pending if a.id not in known]
            queue.show(pending)
            queue.set_class(not pending, "-empty")
            self.dirty.discard("approvals")
        now = time.monotonic()
        for name, pane, render in (
            ("files", "files", self._render_files),
            ("jobs", "jobs", self._render_jobs),
            ("logs", "jobs", self._render_logs),
            ("metrics", "metrics", self._render_metrics),
            ("gpu", "gpu", self._render_gpu),
            ("evals", "evals", self._render_evals),
        ):
            if name not in self.dirty or not self._visible(pane):
                continue
            if not rebuild and now - self._drawn.get(name, 0.0) < REDRAW_INTERVAL.get(name, 0.0):
                continue  # drawn recently: a later frame picks it up (a flood costs a few frames a second)
            render(rebuild)
            self._drawn[name] = now
            self.dirty.discard(name)
        return new_requests

    def _render_files(self, rebuild: bool) -> None:
        self.query_one(FilesPane).show(self.model.files_at(self.at))

    def _render_jobs(self, rebuild: bool) -> None:
        self.query_one(JobsPane).show_jobs(self.model.jobs_at(self.at), self.at)

    def _render_logs(self, rebuild: bool) -> None:
        pane = self.query_one(JobsPane)
        job = self.model.jobs.get(pane.job_id or "")
        if job is None:
            return
        pane.progress = job.progress if self.at is None else None
        lines = self.model.job_log_at(job.id, self.at, tail=500)
        total = job.log_total if self.at is None else len(lines)
        pane.show_log(lines, total, rebuild=rebuild or self.at is not None)

    def _render_metrics(self, rebuild: bool) -> None:
        timeline = self.model.metric_timeline
        if timeline is not None:  # replay: the whole session's series, cut at the selected event
            self.query_one(MetricsView).show_book(timeline.as_of(self.at))
        else:
            self.query_one(MetricsView).show(self.model.metrics_at(self.at), self.model.alerts_at(self.at))

    def _render_evals(self, rebuild: bool) -> None:
        self.query_one(EvalsPane).show(self.model.evals_at(self.at))

    def _render_gpu(self, rebuild: bool) -> None:
        if self.at is None and self.live_gpu is not None:
            snapshot, history = self.live_gpu
        else:
            snapshot, history = self.model.gpu_at(self.at)
        self.query_one(GpuView).show(snapshot, history)
