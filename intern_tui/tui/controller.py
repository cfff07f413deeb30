"""The session controller: which session a window shows, and how it got there.

The App draws and handles keys; this object owns the link to a session. It starts one (in this process,
or in its own session process that the window then attaches to), attaches to a running one, switches to
another (the overview), resumes or forks from the session browser, folds the stored history before the
live feed, notices a session process that died, and watches the other live sessions for requests that
need a person. Slow work runs in the App's thread workers; what changes the screen runs on the UI thread.

The App's attributes it sets — `supervisor` (a Supervisor in-process, else the SessionClient), `client`,
`sub` (the bus subscription the pump drains), `model`, `preloading` — are what the rest of the App reads.
"""

from __future__ import annotations

import logging

from textual.message import Message
from textual.worker import WorkerState

from ..errors import InternError
from .screens.dashboard import DashboardScreen
from .state import ACTIVE, SessionModel

log = logging.getLogger(__name__)


class SessionController:
    def __init__(self, app):
        self.app = app
        self._lost_notified = False
        self._seen_requests: set[str] = set()  # requests of other sessions already announced

    # -- starting and attaching ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the session the App was asked for (its options, resume_id or fork), off the UI thread."""
        self.app.run_worker(self._start, thread=True, exclusive=True, group="agent")

    def attach(self, session_id: str) -> None:
        self.app.run_worker(lambda: self._attach_to(session_id), thread=True, exclusive=True, group="agent")

    def _start(self) -> None:
        """In the worker: build and start the session (smolagents and the model load here)."""
        from ..agent.session import fork_session, resume_session, start_session

        app = self.app
        if app.own_process:
            self._spawn_and_attach()
            return
        overrides = app.continue_overrides
        try:
            if app.fork is not None:
                sup = fork_session(
                    app.runtime,
                    app.fork["parent_id"],
                    app.fork["step"],
                    instruction=app.fork.get("instruction"),
                    model=app.fork.get("model"),
                    approve="ask",
                    start=False,
                    api_base=overrides.get("api_base"),
                    settings_overrides=overrides.get("settings"),
                    ask_again=bool(overrides.get("ask_again")),
                )
            elif app.resume_id is not None:
                sup = resume_session(
                    app.runtime,
                    app.resume_id,
                    approve="ask",
                    start=False,
                    api_base=overrides.get("api_base"),
                    settings_overrides=overrides.get("settings"),
                    max_steps=overrides.get("max_steps"),
                    ask_again=bool(overrides.get("ask_again")),
                    **({"model": app.options.model} if app.options else {}),
                )
            else:
                sup = start_session(app.runtime, app.options, start=False)
        except Exception as exc:
            self._report_start_failure(exc)
            return
        if app.resume_id is not None or app.fork is not None:  # show the history the agent remembers
            app.preloading = True  # the pump leaves new events queued until the history is in
            model = None
            try:
                model = self._history_model(sup.session_id, sup.last_seq)
            except Exception:  # the run can go on without its history on screen
                log.exception("loading the session's history failed")
            app.call_from_thread(self._install_history, model)
        app.call_from_thread(setattr, app, "supervisor", sup)
        sup.start()

    def _spawn_and_attach(self) -> None:
        """In the worker: start the session in its own process, then attach this window to it."""
        from ..host import spawn_session

        app = self.app
        overrides = {
            "api_base": app.continue_overrides.get("api_base"),
            "settings_overrides": app.continue_overrides.get("settings") or None,
            "approve": "ask",
            "ask_again": app.continue_overrides.get("ask_again") or None,
        }
        if app.resume_id is not None:
            overrides["max_steps"] = app.continue_overrides.get("max_steps")
            if app.options is not None:
                overrides["model"] = app.options.model
        try:
            if app.options is not None and app.resume_id is None and app.fork is None:
                from ..agent.models import check_model

                check_model(app.options.model, app.options.api_base)  # the reason, here, not in a log
            session_id = spawn_session(
                app.runtime.store.home,
                options=app.options,
                resume_id=app.resume_id,
                fork=app.fork,
                overrides=overrides,
            )
        except Exception as exc:
            self._report_start_failure(exc)
            return
        self._attach_to(session_id)

    def _attach_to(self, session_id: str) -> None:
        """In the worker: connect to the session process, fold the stored history, then stream the rest."""
        from ..host.client import SessionClient
        from .history import fold_history

        app = self.app
        app.preloading = True  # the pump waits for the history
        try:
            client = SessionClient(app.runtime.store.home, session_id)
        except InternError as exc:
            app.preloading = False
            app.call_from_thread(self._show_error, "Cannot attach", exc)
            return
        sub = client.bus.subscribe("tui")
        model = SessionModel(live=True)
        conn = app.runtime.store.connect()
        try:
            fold_history(conn, session_id, model)
        except Exception:  # the live part still shows; the history is in the store for replay
            log.exception("loading the session's history failed")
        finally:
            conn.close()
        client.stream(after_seq=model.last_seq)  # what the store did not have yet comes over the socket
        app.call_from_thread(self._attached, client, sub, model)

    def _attached(self, client, sub, model: SessionModel) -> None:
        app = self.app
        previous = app.client
        if previous is not None and previous is not client:
            previous.close()  # switched to another session: detach from the one shown before
        app.client = app.supervisor = client
        app.sub = sub
        self._lost_notified = False
        self._install_history(model)

    def _history_model(self, session_id: str, upto_seq: int) -> SessionModel:
        """In the worker: fold a resumed or forked session's stored history (it grows with the log, so
        never on the UI thread)."""
        from .history import fold_history

        runtime = self.app.runtime
        runtime.writer.flush()  # events the session emitted while being set up are in the store
        model = SessionModel(live=True)
        conn = runtime.store.connect()
        try:
            fold_history(conn, session_id, model, upto_seq=upto_seq)
        finally:
            conn.close()
        return model

    def _install_history(self, model: SessionModel | None) -> None:
        """On the UI thread: swap the folded history in; events queued meanwhile follow at the next pump
        (those at or below its last seq are skipped as known)."""
        app = self.app
        app.preloading = False
        if model is None:
            return
        app.model = model
        dashboard = app.live_dashboard
        if dashboard is not None:
            dashboard.model = model
            if dashboard.ready:
                dashboard.refresh_views(
                    {"stream", "approvals", "files", "jobs", "logs", "metrics", "gpu"}, rebuild=True
                )

    def _report_start_failure(self, exc: Exception) -> None:
        """In the worker: show why the session could not start (a bug too: it must not die silently)."""
        if not isinstance(exc, InternError):
            log.exception("starting the session failed")
            exc = InternError(f"{type(exc).__name__}: {exc}", hint="details in intern-tui.log")
        self.app.call_from_thread(self._start_failed, exc)

    def _start_failed(self, exc: InternError) -> None:
        app = self.app
        self._show_error("Cannot start the agent", exc)
        if app.resume_id is None and app.fork is None:  # back to the form, with what was typed
            options = app.options
            app.ask_for_task(task=options.task if options else "", model=options.model if options else None)

    def _show_error(self, title: str, exc: InternError) -> None:
        self.app.notify(
            exc.message + (f"\n{exc.hint}" if exc.hint else ""), title=title, severity="error", timeout=15
        )

    # -- moving between sessions --------------------------------------------------------------------------

    def switch(self, session_id: str) -> None:
        """Show another live session in this window (from the overview). A session running inside this
        window (--in-process) can't be left without stopping it, so then the way is another terminal."""
        app = self.app
        if app.client is None and app.supervisor is not None and app.supervisor.running:
            app.notify(
                f"this window runs its session in-process; follow {session_id} from another terminal: "
                f"intern-tui attach {session_id}",
                severity="warning",
                timeout=8,
            )
            return
        while not isinstance(app.screen, DashboardScreen) or app.screen.mode != "live":
            app.pop_screen()
        self.attach(session_id)

    def resume(self, session_id: str, status: str) -> None:
        """Resume a stopped session from the browser, in this window."""
        app = self.app
        if status in ACTIVE:
            app.notify(f"{session_id} is {status} in another process", severity="warning")
            return
        if not self._can_start_here():
            return
        self._fresh_live_dashboard()
        app.resume_id, app.fork, app.options = session_id, None, None
        app.continue_overrides = {}  # flags given for another session never apply to this one
        self.start()

    def fork(self, parent_id: str, step: int, instruction: str | None, model: str | None) -> None:
        app = self.app
        if not self._can_start_here():
            return
        self._fresh_live_dashboard()
        app.fork = {"parent_id": parent_id, "step": step, "instruction": instruction, "model": model}
        app.resume_id = None
        app.continue_overrides = {}
        self.start()

    def _can_start_here(self) -> bool:
        app = self.app
        if app.supervisor is not None and app.supervisor.running:
            app.notify(
                "an agent is already running in this window: interrupt it (x x) first", severity="warning"
            )
            return False
        if app.replay_id is not None:
            app.notify("this window is a replay; use: intern-tui resume ID", severity="warning")
            return False
        return True

    def _fresh_live_dashboard(self) -> None:
        """Back to an empty live dashboard for a resumed or forked session."""
        app = self.app
        while len(app.screen_stack) > 2:
            app.pop_screen()
        app.model = SessionModel(live=True)
        app.switch_screen(DashboardScreen(app.model, app.glyphs, mode="live"))
        app.supervisor = None

    # -- watching -------------------------------------------------------------------------------------------

    def check_lost(self) -> None:
        """On the UI thread (the pump): the session process this window follows has gone away."""
        client = self.app.client
        if client is None or self._lost_notified or not client.wait(0):
            return
        self._lost_notified = True
        if client.status in ("done", "failed", "interrupted", "max_steps"):
            return  # it ended; the header says how
        sid = client.session_id
        self.app.notify(
            f"the session process of {sid} is gone; the session is resumable: intern-tui resume {sid}",
            title="Session lost",
            severity="error",
            timeout=30,
        )

    def watch_others(self) -> None:
        """Every few seconds (the App's timer): look for requests waiting in other live sessions."""
        self.app.run_worker(self._watch_others, thread=True, exclusive=True, group="watch")

    def _watch_others(self) -> None:
        """In a worker: a request waiting in another live session gets a notification (the bell and a
        toast naming the session); `w` opens the overview to decide it."""
        from ..host import live_host
        from ..store.queries import pending_requests

        app = self.app
        if self._connecting():
            return  # the session this window is starting is not "another" one
        current = getattr(app.supervisor, "session_id", None)
        conn = app.runtime.store.connect()
        try:
            pending = [p for p in pending_requests(conn) if p["session_id"] != current]
        finally:
            conn.close()
        fresh = [p for p in pending if p["id"] not in self._seen_requests]
        if not fresh:
            return
        home = app.runtime.store.home
        fresh = [p for p in fresh if live_host(home, p["session_id"]) is not None]
        self._seen_requests.update(p["id"] for p in fresh)
        if fresh:
            app.call_from_thread(self._announce_elsewhere, fresh)

    def _connecting(self) -> bool:
        return self.app.preloading or any(
            w.group == "agent" and w.state in (WorkerState.PENDING, WorkerState.RUNNING)
            for w in self.app.workers
        )

    def _announce_elsewhere(self, requests: list[dict]) -> None:
        app = self.app
        current = getattr(app.supervisor, "session_id", None)
        requests = [p for p in requests if p["session_id"] != current]
        if not requests:
            return
        app.bell()
        sessions = sorted({p["session_id"] for p in requests})
        tools = ", ".join(p["tool"] for p in requests)
        app.notify(
            f"{', '.join(sessions)} waits for you ({tools}) — w opens the overview",
            title="Another session needs you",
            severity="warning",
            timeout=10,
        )


# -- what screens ask of the App (posted, handled by the App: screens never call into it) -------------------


class SwitchSession(Message):
    """Show this live session in the window (the overview's enter)."""

    def __init__(self, session_id: str):
        super().__init__()
        self.session_id = session_id


class ResumeSession(Message):
    """Resume this stopped session here (the session browser)."""

    def __init__(self, session_id: str, status: str):
        super().__init__()
        self.session_id, self.status = session_id, status


class ForkSession(Message):
    """Start a fork of this session from step K here (the session browser)."""

    def __init__(self, parent_id: str, step: int, instruction: str | None, model: str | None):
        super().__init__()
        self.parent_id, self.step, self.instruction, self.model = parent_id, step, instruction, model


class OpenReplay(Message):
    """Open this session read-only on a timeline (the session browser)."""

    def __init__(self, session_id: str):
        super().__init__()
        self.session_id = session_id
