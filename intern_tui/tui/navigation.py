"""The App's second half: the GPU sampler, the session browser, replay, resume and fork from the UI."""

from __future__ import annotations

from textual import work

from .screens.dashboard import DashboardScreen
from .state import ACTIVE, SessionModel


class NavigationMixin:
    """Mixed into InternApp (which provides runtime, supervisor, model, glyphs, start_agent, notify…)."""

    # -- GPU ------------------------------------------------------------------------------------------------

    def start_gpu_sampler(self) -> None:
        """The sampler thread reads NVML; the dashboard only reads its last snapshot (never NVML)."""
        from ..telemetry import GpuSampler

        def emit(snapshot) -> None:
            sup = self.supervisor
            if sup is not None:
                sup.record_gpu_sample(snapshot)

        self.sampler = GpuSampler(emit=emit, pid_to_job=self._pid_to_job)
        self.sampler.start()

    def _pid_to_job(self, pid: int) -> str | None:
        """Called by the sampler thread for each GPU process (or an ancestor of it)."""
        sup = self.supervisor
        return sup.job_pids().get(pid) if sup is not None else None

    def on_unmount(self) -> None:
        if self.sampler is not None:
            self.sampler.stop()

    # -- sessions ---------------------------------------------------------------------------------------------

    def action_sessions(self) -> None:
        if self.runtime is None:
            return
        from .screens.sessions import SessionBrowser

        self.push_screen(SessionBrowser(self.runtime.store))

    def open_replay(self, session_id: str) -> None:
        """A read-only dashboard with a timeline. The first frame shows as soon as the first events are
        folded in; the rest streams in behind it (the timeline says so), then the view jumps to the end."""
        self._load_replay(session_id)

    @work(thread=True, group="replay")
    def _load_replay(self, session_id: str) -> None:
        from .screens.replay import ReplayLoaded, ReplayLoading, load_in_background

        load_in_background(
            self, self.runtime.store, session_id, self._show_replay, ReplayLoading, ReplayLoaded
        )

    def _show_replay(self, model: SessionModel, total: int):
        from .screens.replay import ReplayScreen

        screen = ReplayScreen(model, self.glyphs)
        screen.loading_total = total if total > model.last_seq else None
        self.push_screen(screen)
        return screen

    def _can_start_here(self) -> bool:
        if self.supervisor is not None and self.supervisor.running:
            self.notify(
                "an agent is already running in this window: interrupt it (x x) first", severity="warning"
            )
            return False
        if self.replay_id is not None:
            self.notify("this window is a replay; use: intern-tui resume ID", severity="warning")
            return False
        return True

    def _fresh_live_dashboard(self) -> None:
        """Back to an empty live dashboard for a resumed or forked session."""
        while len(self.screen_stack) > 2:
            self.pop_screen()
        self.model = SessionModel(live=True)
        self.switch_screen(DashboardScreen(self.model, self.glyphs, mode="live"))
        self.supervisor = None

    def resume_from_browser(self, session_id: str, status: str) -> None:
        if status in ACTIVE:
            self.notify(f"{session_id} is {status} in another process", severity="warning")
            return
        if not self._can_start_here():
            return
        self._fresh_live_dashboard()
        self.resume_id, self.fork, self.options = session_id, None, None
        self.continue_overrides = {}  # flags given for another session never apply to this one
        self.start_agent()

    def fork_from_browser(
        self, parent_id: str, step: int, instruction: str | None, model: str | None
    ) -> None:
        if not self._can_start_here():
            return
        self._fresh_live_dashboard()
        self.fork = {"parent_id": parent_id, "step": step, "instruction": instruction, "model": model}
        self.resume_id = None
        self.continue_overrides = {}
        self.start_agent()
