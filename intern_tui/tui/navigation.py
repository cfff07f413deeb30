"""The App's second half: the GPU sampler, the session browser and replay (resume and fork: controller.py)."""

from __future__ import annotations

from textual import work

from .state import SessionModel


class NavigationMixin:
    """Mixed into InternApp (which provides runtime, supervisor, model, glyphs, notify…)."""

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
