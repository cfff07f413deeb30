"""The intern-tui application: the live dashboard (and, with a timeline, replay).

The App owns three things: a bus subscription it drains on a timer into the `SessionModel` (so a flood of
events costs one redraw per frame, never one per event), the keymap, and the link to the Supervisor —
the only object that can steer the agent. Widgets never see the agent.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.css.query import NoMatches

from ..errors import InternError
from .controller import ForkSession, OpenReplay, ResumeSession, SessionController, SwitchSession
from .glyphs import Glyphs
from .navigation import NavigationMixin
from .screens.dashboard import DashboardScreen
from .screens.modals import (
    ApprovalModal,
    ConfirmModal,
    EditModal,
    HelpScreen,
    QuitModal,
    ReasonModal,
    RedirectModal,
    StepModal,
)
from .state import SessionModel
from .themes import DEFAULT_THEME, load_themes

log = logging.getLogger(__name__)

PUMP_HZ = 15
MAX_EVENTS_PER_FRAME = 20_000
DOUBLE_PRESS_S = 2.0
WATCH_S = 2.0  # how often other live sessions are checked for requests that need a person


class InternApp(NavigationMixin, App):
    TITLE = "intern-tui"
    ENABLE_COMMAND_PALETTE = True
    BINDINGS = [
        Binding("p", "toggle_pause", "Pause", id="pause", tooltip="pause / resume at the next step boundary"),
        Binding("r", "redirect", "Redirect", id="redirect"),
        Binding("a", "approve", "Approve", id="approve"),
        Binding("A", "approve_always", "Always", id="approve_always", show=False),
        Binding("d", "deny", "Deny", id="deny"),
        Binding("e", "edit", "Edit", id="edit", show=False),
        Binding("enter", "approval_details", "Details", id="approval_details", show=False),
        Binding("x", "interrupt", "Interrupt", id="interrupt", tooltip="press twice within 2 s"),
        Binding("s", "focus_pane('stream')", "Stream", id="focus_stream", show=False),
        Binding("g", "focus_pane('gpu')", "GPU", id="focus_gpu", show=False),
        Binding("m", "focus_pane('metrics')", "Metrics", id="focus_metrics", show=False),
        Binding("f", "focus_pane('files')", "Files", id="focus_files", show=False),
        Binding("j", "focus_pane('jobs')", "Jobs", id="focus_jobs", show=False),
        Binding("v", "focus_pane('evals')", "Evals", id="focus_evals", show=False),
        Binding("k", "cancel_job", "Cancel job", id="cancel_job", show=False),
        Binding("o", "open_step", "Open step", id="open_step", show=False),
        Binding("z", "zoom", "Zoom", id="zoom", show=False),
        Binding("b", "sessions", "Sessions", id="sessions", show=False),
        Binding("w", "overview", "All sessions", id="overview", show=False),
        Binding("question_mark", "help", "Help", id="help"),
        Binding("q", "quit_app", "Quit", id="quit"),
    ]

    def __init__(
        self,
        runtime=None,
        *,
        options=None,
        resume_id: str | None = None,
        replay_id: str | None = None,
        fork: dict | None = None,
        theme: str | None = None,
        keymap: dict[str, str] | None = None,
        ascii_only: bool = False,
        ask_model: bool = False,
        gpu: bool = False,
        default_model: str | None = None,
        make_options=None,
        continue_overrides: dict | None = None,
        attach_id: str | None = None,
        own_process: bool = False,
        overview: bool = False,
    ):
        super().__init__()
        if "TEXTUAL_ANIMATIONS" not in os.environ:
            # A dashboard watched over ssh: sliding tab underlines and smooth scrolls cost frames that
            # a key press then waits behind. TEXTUAL_ANIMATIONS=full brings them back.
            self.animation_level = "none"
        self.runtime = runtime
        self.options = options
        self.resume_id = resume_id
        self.replay_id = replay_id
        self.fork = fork
        # attach_id: follow a session running in its own process. own_process: sessions started here run in
        # their own process too (the CLI's default), and this window attaches to them.
        self.attach_id = attach_id
        self.own_process = own_process or attach_id is not None or overview
        self.start_on_overview = overview  # attach --all: the overview of live sessions, no session yet
        self.gpu_enabled = gpu and not self.own_process  # the session process samples the GPU
        self.client = None  # the SessionClient when attached
        self.default_model = default_model  # --model given without a task: prefills the new-session form
        self.make_options = (
            make_options  # (task, model) -> SessionOptions with config and command-line settings
        )
        # --api-base / --request-timeout / --max-steps … given with resume or fork (None: the session's own)
        self.continue_overrides = dict(continue_overrides or {})
        self.sampler = None
        self.ask_model = ask_model
        self.glyphs = Glyphs(ascii_only)
        self.model = SessionModel(live=True)
        self.supervisor = None
        self.sub = runtime.bus.subscribe("tui") if runtime is not None else None
        self._last_x = 0.0
        self._user_keymap = dict(keymap or {})
        self._theme_name = theme
        self.exit_message: str | None = None
        self.preloading = False  # a session's history is being folded in a worker: the pump waits
        self.sessions = SessionController(self)  # which session this window shows, and how

    # -- lifecycle --------------------------------------------------------------------------------------

    def on_mount(self) -> None:
        for t in load_themes():
            self.register_theme(t)
        wanted = self._theme_name or DEFAULT_THEME
        if wanted in self.available_themes:
            self.theme = wanted
        elif self._theme_name:
            self.notify(f"unknown theme {self._theme_name!r}; using {DEFAULT_THEME}", severity="warning")
            self.theme = DEFAULT_THEME
        if self._user_keymap:
            self.set_keymap(self._user_keymap)
        if self.replay_id is not None:
            self.open_replay(self.replay_id)
            return
        self.push_screen(DashboardScreen(self.model, self.glyphs, mode="live"))
        if self.sub is not None:
            self.set_interval(1 / PUMP_HZ, self.pump)
        if self.gpu_enabled:
            self.call_after_refresh(self.start_gpu_sampler)
        if self.runtime is not None:  # (not in a replay-only window: that returned above)
            self.set_interval(WATCH_S, self.sessions.watch_others)
        if self.attach_id is not None:
            self.sessions.attach(self.attach_id)
        elif self.options is not None or self.resume_id is not None or self.fork is not None:
            self.sessions.start()
        elif self.start_on_overview:
            self.action_overview()
        elif self.runtime is not None:
            self.ask_for_task()

    @property
    def dashboard(self) -> DashboardScreen | None:
        """The dashboard on top (live or a replay): what viewing keys act on."""
        for screen in reversed(self.screen_stack):
            if isinstance(screen, DashboardScreen):
                return screen
        return None

    @property
    def live_dashboard(self) -> DashboardScreen | None:
        for screen in self.screen_stack:
            if isinstance(screen, DashboardScreen) and screen.mode == "live":
                return screen
        return None

    def ask_for_task(self, task: str = "", model: str | None = None) -> None:
        from .screens.new_session import NewSessionScreen

        def chosen(result) -> None:
            if result is None:
                self.exit()
                return
            task, model = result
            from ..agent.session import SessionOptions

            if self.make_options is not None:
                self.options = self.make_options(task, model)
            else:
                self.options = SessionOptions(task=task, model=model, approve="ask")
            self.sessions.start()

        self.push_screen(NewSessionScreen(default_model=model or self._default_model(), task=task), chosen)

    def _default_model(self) -> str | None:
        if self.default_model:
            return self.default_model
        try:
            from ..agent.models import resolve_model_id
            from ..config import load_config

            return resolve_model_id(None, load_config().model)
        except InternError:
            return None

    # -- what screens ask for -------------------------------------------------------------------------------

    def on_switch_session(self, message: SwitchSession) -> None:
        self.sessions.switch(message.session_id)

    def on_resume_session(self, message: ResumeSession) -> None:
        self.sessions.resume(message.session_id, message.status)

    def on_fork_session(self, message: ForkSession) -> None:
        self.sessions.fork(message.parent_id, message.step, message.instruction, message.model)

    def on_open_replay(self, message: OpenReplay) -> None:
        self.open_replay(message.session_id)

    def action_overview(self) -> None:
        if self.runtime is None:
            return
        from .screens.overview import OverviewScreen

        current = getattr(self.supervisor, "session_id", None)
        self.push_screen(OverviewScreen(self.runtime.store.home, self.runtime.store, current))

    # -- the event pump ---------------------------------------------------------------------------------

    def pump(self) -> None:
        if self.preloading:
            return
        self.sessions.check_lost()
        events = self.sub.drain(MAX_EVENTS_PER_FRAME) if self.sub is not None else []
        changed = self.model.apply_all(events) if events else set()
        dashboard = self.live_dashboard
        if dashboard is None or not dashboard.ready:
            return
        if self.sampler is not None and self.sampler.snapshot is not None:
            if dashboard.live_gpu is None or dashboard.live_gpu[0] is not self.sampler.snapshot:
                dashboard.live_gpu = (self.sampler.snapshot, self.sampler.history())
                changed = changed | {"gpu"}
        if self.runtime is not None and self.runtime.mirror is not None:
            dashboard.query_one("#header").extra = self.runtime.mirror_status()
        try:
            with self.batch_update():
                new_requests = dashboard.refresh_views(changed)
        except NoMatches:  # the screen is being torn down (quit); nothing left to draw
            return
        if new_requests:
            self.announce(new_requests)

    def announce(self, requests) -> None:
        """A request needs a human: the bell and a desktop notification (OSC 9). No toast: the header says
        WAITING FOR APPROVAL and the queue above the stream shows the request with its keys, so nothing
        covers the code or the plots."""
        self.bell()
        text = ", ".join(r.tool for r in requests)
        driver = getattr(self, "_driver", None)
        if driver is not None and hasattr(driver, "write"):
            driver.write(f"\x1b]9;intern-tui: approval needed ({text})\x07")

    # -- actions: steering ------------------------------------------------------------------------------

    STEERING = frozenset(
        {"toggle_pause", "redirect", "approve", "approve_always", "deny", "edit", "interrupt", "cancel_job"}
    )

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        """Steering keys don't exist in a replay (hidden from the footer and inert)."""
        if action in self.STEERING:
            dashboard = self.dashboard
            if dashboard is not None and dashboard.mode == "replay":
                return False
        return True

    def _steerable(self) -> bool:
        if self.supervisor is None:
            self.notify("no agent is running in this window", severity="warning")
            return False
        if not self.supervisor.running:
            self.notify(f"the session is {self.supervisor.status}", severity="warning")
            return False
        return True

    def action_toggle_pause(self) -> None:
        if not self._steerable():
            return
        if self.supervisor.status in ("paused", "pausing"):
            self.supervisor.resume()
            self.notify("resuming")
        else:
            self.supervisor.pause()
            self.notify("pausing after the current step (jobs keep running)")

    def action_redirect(self) -> None:
        if not self._steerable():
            return

        def send(text: str | None) -> None:
            if text and self.supervisor is not None:
                self.supervisor.redirect(text)
                self.notify("instruction queued: the agent reads it before its next step")

        self.push_screen(RedirectModal(), send)

    def action_interrupt(self) -> None:
        if not self._steerable():
            return
        now = time.monotonic()
        if now - self._last_x <= DOUBLE_PRESS_S:
            self._last_x = 0.0
            self.supervisor.interrupt()
            self.notify(
                "interrupting now (a model call in flight is dropped); the session stays resumable",
                severity="warning",
            )
        else:
            self._last_x = now
            self.notify("press x again within 2 s to interrupt the run", timeout=2)

    def action_cancel_job(self) -> None:
        """Cancel the job selected in the Jobs pane (or the only running one), after a confirmation."""
        if not self._steerable():
            return
        from .widgets.jobs import JobsPane

        jobs = self.model.jobs
        selected = None
        if self.dashboard is not None:
            try:
                selected = self.dashboard.query_one(JobsPane).job_id
            except NoMatches:
                selected = None
        running = [j for j in jobs.values() if j.status == "running"]
        job = jobs.get(selected or "")
        if job is None or job.status != "running":
            if len(running) != 1:
                hint = "select one in the Jobs pane (j)" if running else "no job is running"
                self.notify(f"which job? {hint}", severity="warning")
                return
            job = running[0]

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.notify(f"cancelling {job.id}…", timeout=3)
                self._cancel_job(job.id)

        self.push_screen(
            ConfirmModal(
                f"Cancel job {job.id}?",
                f"{job.script} on {job.backend}: it is stopped now (its logs and metrics are kept) and the "
                "agent is told you canceled it.",
            ),
            confirmed,
        )

    @work(thread=True, group="cancel-job")
    def _cancel_job(self, job_id: str) -> None:
        """Off the UI thread: a cancel waits for the job to stop (SIGTERM, then SIGKILL after a grace)."""
        try:
            result = self.supervisor.cancel_job(job_id)
        except Exception as exc:  # ToolError (not watched), InternError (the session process refused)…
            message = getattr(exc, "message", None) or str(exc)
            self.call_from_thread(self.notify, f"cannot cancel {job_id}: {message}", severity="error")
            return
        status = (result or {}).get("status", "canceled")
        self.call_from_thread(self.notify, f"{job_id}: {status}; the agent hears of it before its next step")

    def _selected_request(self):
        dashboard = self.dashboard
        if dashboard is None or dashboard.at is not None:
            return None
        from .widgets.approvals import ApprovalQueue

        item = dashboard.query_one(ApprovalQueue).selected
        if item is None:
            self.notify("no pending approval", timeout=2)
        return item

    def decide(self, item, decision: str, reason: str | None = None, edited: dict | None = None) -> None:
        if self.supervisor is None or not self.supervisor.decide(item.id, decision, reason, edited):
            self.notify("that request is no longer pending", severity="warning")
            return
        verb = {
            "approve": "approved",
            "always": f"always allowing {item.tool}",
            "deny": "denied",
            "edit": "approved with edits",
        }[decision]
        if edited:
            verb += ": " + ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in edited.items())
        self.notify(f"{item.tool}: {verb}", timeout=4)

    def action_approve(self) -> None:
        if item := self._selected_request():
            self.decide(item, "approve")

    def action_approve_always(self) -> None:
        if item := self._selected_request():
            self.decide(item, "always")

    def action_deny(self) -> None:
        if item := self._selected_request():
            self.push_screen(
                ReasonModal(item.tool),
                lambda reason: reason is not None and self.decide(item, "deny", reason or None),
            )

    def action_edit(self) -> None:
        if item := self._selected_request():
            self.push_screen(
                EditModal(item.arguments),
                lambda edited: edited is not None and self.decide(item, "edit", None, edited),
            )

    def action_approval_details(self) -> None:
        """enter: the selected request in full (in a replay: the one pending at the selected event)."""
        from .widgets.approvals import ApprovalQueue

        dashboard = self.dashboard
        if dashboard is None:
            return
        item = dashboard.query_one(ApprovalQueue).selected
        if item is None:
            self.notify("no pending approval", timeout=2)
            return
        self.open_request(item)

    def open_request(self, item) -> None:
        read_only = self.dashboard is None or self.dashboard.at is not None

        def done(result) -> None:
            if result is not None:
                self.decide(item, *result)

        at = self.dashboard.at if self.dashboard is not None else None
        self.push_screen(ApprovalModal(item, read_only=read_only, at=at), done)

    def on_option_list_option_selected(self, event) -> None:
        from .widgets.approvals import ApprovalQueue

        if isinstance(event.option_list, ApprovalQueue) and event.option_list.selected is not None:
            event.stop()
            self.open_request(event.option_list.selected)

    # -- actions: viewing -------------------------------------------------------------------------------

    def action_focus_pane(self, name: str) -> None:
        if self.dashboard is not None:
            self.dashboard.show_pane(name)

    def action_zoom(self) -> None:
        if self.dashboard is not None:
            self.dashboard.toggle_zoom()

    def action_open_step(self) -> None:
        dashboard = self.dashboard
        if dashboard is None:
            return
        items = dashboard.model.stream_at(dashboard.at)
        steps = [i.step for i in items if i.step]
        if not steps:
            self.notify("no step yet", timeout=2)
            return
        step = steps[-1]
        self.push_screen(
            StepModal(
                step,
                [
                    i
                    for i in items
                    if i.step == step and i.kind in ("reasoning", "thought", "code", "observation", "error")
                ],
            )
        )

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.keymap_rows()))

    def keymap_rows(self) -> list[tuple[str, str, str]]:
        """(keys, what they do, binding id) for what is active now: replay keys in a replay, steering keys
        live, and the user's remaps from config.toml."""
        dashboard = self.dashboard
        replay = dashboard is not None and dashboard.mode == "replay"
        bindings = list(type(dashboard).BINDINGS) if replay else []
        bindings += [b for b in self.BINDINGS if not (replay and b.action.split("(")[0] in self.STEERING)]
        rows = []
        for binding in bindings:
            keys = self._user_keymap.get(binding.id, binding.key)
            shown = ", ".join(
                self.get_key_display(Binding(k.strip(), binding.action)) for k in keys.split(",")
            )
            what = binding.description + (f" ({binding.tooltip})" if binding.tooltip else "")
            rows.append((shown, what, binding.id or "-"))
        rows += [
            ("ctrl+p", "command palette", "-"),
            (", . < >", "files: pick the versions to diff", "files.*"),
            ("u", "files: unified / side by side", "files.toggle_mode"),
            ("[ ]", "metrics: previous / next tab", "metrics.previous, metrics.next"),
            (
                "{ }",
                "metrics: previous / next metric in the tab",
                "metrics.previous_metric, metrics.next_metric",
            ),
        ]
        return rows

    def action_quit_app(self) -> None:
        sup = self.supervisor
        if self.client is not None:
            if self.client.running:
                self.push_screen(QuitModal(self.client.session_id), self._quit_attached)
                return
            self.client.close()
        elif sup is not None and sup.running:
            detail = (
                "The run stops after its current step and the session stays resumable "
                f"(intern-tui resume {sup.session_id}). Training jobs keep running."
            )
            self.push_screen(
                ConfirmModal("The agent is still running. Quit?", detail),
                lambda yes: yes and self._quit_running(),
            )
            return
        if sup is not None and sup.status == "interrupted":
            sid = sup.session_id
            self.exit_message = f"session {sid} interrupted — resume with: intern-tui resume {sid}"
        self.exit()

    def _quit_attached(self, choice: str | None) -> None:
        """Detach (the session goes on in its process) or stop it (interrupted, resumable)."""
        client = self.client
        sid = client.session_id
        if choice == "detach":
            client.close()
            self.exit_message = f"detached; session {sid} goes on — intern-tui attach {sid}"
            self.exit()
        elif choice == "stop":
            try:
                client.stop("stopped from the TUI")
            except InternError as exc:
                self.notify(exc.message, severity="error")
                return
            self.exit_message = f"session {sid} stopped — resume with: intern-tui resume {sid}"
            self._exit_after_stop(client)

    def _quit_running(self) -> None:
        sup = self.supervisor
        sup.interrupt("quit from the TUI")
        sid = sup.session_id
        self.exit_message = f"session {sid} interrupted — resume with: intern-tui resume {sid}"
        self._exit_after_stop(sup)

    @work(thread=True)
    def _exit_after_stop(self, sup) -> None:
        finished = sup.wait(10)
        if not finished:
            # in-process: a long step (model call, sleep) would keep us here; end the session cleanly
            sup.abandon("quit from the TUI while a step was still running")
        if self.client is not None:
            self.client.close()  # the session process finishes the step on its own
        self.call_from_thread(self.exit)

    # -- command palette ----------------------------------------------------------------------------------

    def get_system_commands(self, screen) -> Any:
        yield from super().get_system_commands(screen)
        for binding in self.BINDINGS:
            action, _, arg = binding.action.partition("(")
            yield SystemCommand(
                binding.description,
                f"[{binding.key}] {binding.id}",
                lambda a=binding.action: self.run_action(a),
            )

    @property
    def status(self) -> str:
        return self.model.status.current
