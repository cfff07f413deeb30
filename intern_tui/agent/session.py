"""Wiring one agent session: store + bus + writer (per process), and per session the emitter, the liveness
lock, the workspace, the tools, the approval queue, the CodeAgent and its Supervisor.

`Runtime` is what a process opens once; `start_session` / `resume_session` give a running Supervisor.
The UI and the CLI only ever hold the Supervisor (to steer) and a bus subscription (to watch).
"""

from __future__ import annotations

import io
import os
import socket
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..bus import Emitter, EventBus
from ..errors import BadInput, InternError
from ..events import Kind
from ..redact import default_redactor
from ..sandbox import SandboxSettings, resolve_isolation, settings_from_config
from ..store import Store, StoreWriter, open_store
from ..store.queries import get_session, iter_events
from .approvals import ApprovalQueue, Budget
from .endpoints import context_window, continued_endpoint, resumed_cap, storable
from .models import ModelSettings


class Runtime:
    """The per-process part: the store, the bus, the single writer thread and (optionally) the Hub
    mirror, which consumes the same bus."""

    def __init__(self, store: Store, *, mirror: bool = False):
        self.store = store
        self.bus = EventBus()
        self.writer = StoreWriter(store.connect, self.bus)
        self.writer.start()
        self.mirror = None
        if mirror:
            from ..mirror import Mirror

            self.mirror = Mirror(store, bus=self.bus)
            self.mirror.start(delay=3.0)

    @classmethod
    def open(cls, home: Path, *, mirror: bool = False) -> Runtime:
        store = open_store(home)
        store.recover_dead_sessions()
        return cls(store, mirror=mirror)

    def mirror_status(self) -> str:
        return str(self.mirror.status()) if self.mirror is not None else ""

    def close(self) -> None:
        self.writer.stop()
        if self.mirror is not None:
            self.mirror.stop(timeout=5.0)  # one last push if it is quick; the rest stays queued


@dataclass
class SessionOptions:
    task: str
    model: str
    api_base: str | None = None
    max_steps: int = 300
    approve: str = "ask"  # ask | none | all
    budget: Budget = field(default_factory=Budget)
    context_window: int | None = None
    pause_on_alert: bool = False
    approval_timeout: float | None = None
    on_request: Any = None  # called with each approval Request that waits for a human (headless ask)
    deny_tools: dict[str, str] = field(default_factory=dict)  # tool -> reason, refused without asking
    title: str | None = None
    ask_again: bool = False  # a re-executed session: ask again instead of replaying recorded decisions
    parent_id: str | None = None
    fork_step: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    model_kwargs: dict[str, Any] = field(default_factory=dict)  # litellm params (merged into settings.params)
    settings: ModelSettings = field(default_factory=ModelSettings)
    sandbox: SandboxSettings | None = None  # None: the [sandbox] table of config.toml

    def model_settings(self) -> ModelSettings:
        """The settings this session calls its model with (explicit options folded in)."""
        settings = replace(self.settings, params={**self.settings.params, **self.model_kwargs})
        if self.context_window:
            settings.context_window = self.context_window
        return settings


class AgentSession:
    """A live session: everything one agent run needs, built before the first step."""

    def __init__(self, runtime: Runtime, options: SessionOptions, session_id: str, next_seq: int = 1):
        self.runtime = runtime
        self.options = options
        self.id = session_id
        self.store = runtime.store
        self.lock = self.store.lock_session(session_id)
        if not self.lock.try_acquire():
            raise BadInput(
                f"session {session_id} is running in another intern-tui process",
                hint="attach to that process, or wait for it to stop",
            )
        self.jobs = None
        self.executor = None
        try:
            self._build(options, session_id, next_seq)
        except BaseException:
            self.close()  # a half-built session must not keep its lock (the next try would say "running")
            raise

    def _build(self, options: SessionOptions, session_id: str, next_seq: int) -> None:
        from rich.console import Console
        from smolagents import CodeAgent  # deferred: the UI builds sessions off its first frame
        from smolagents.monitoring import AgentLogger, LogLevel

        from ..sandbox.executor import WorkerExecutor
        from ..tools import REGISTRY, ToolContext, ToolGate
        from .models import build_model
        from .prompts import INSTRUCTIONS
        from .tools import FunctionTool

        runtime = self.runtime
        self.sandbox = options.sandbox or _sandbox_from_config()
        self.isolation = resolve_isolation(self.sandbox)
        self.workspace = self.store.workspace(session_id)
        self.workspace.mkdir(parents=True, exist_ok=True)
        from ..templates import install as install_templates

        install_templates(self.workspace / "templates")  # never overwrites: resumed sessions keep their edits
        self.redactor = default_redactor()
        self.emitter = Emitter(runtime.bus, session_id, next_seq=next_seq, redactor=self.redactor)
        self.approvals = ApprovalQueue(
            self.emitter,
            options.approve,
            options.budget,
            on_request=options.on_request,
            flush=runtime.writer.flush,
            timeout=options.approval_timeout,
            deny_tools=options.deny_tools,
        )
        self.ctx = ToolContext(
            session_id=session_id,
            workspace=self.workspace,
            emitter=self.emitter,
            approvals=self.approvals,
            redactor=self.redactor,
            # what the research tools read: the task (its base model, benchmarks), the session's model
            settings={
                "task": options.task,
                "llm": options.model,
                "api_base": options.api_base,
                **options.extra,
            },
        )
        self.jobs = _job_manager(self)
        self.ctx.jobs = self.jobs
        self.gate = ToolGate(self.ctx, REGISTRY)
        tools = [FunctionTool(spec, self.gate) for spec in REGISTRY.values()]
        self.settings = options.model_settings()
        self.model = build_model(options.model, options.api_base, self.settings)
        if hasattr(self.model, "recorded_decision") and not options.ask_again:
            self.approvals.recorded = self.model.recorded_decision  # re-execution decides as recorded
        self.window, self.window_source = context_window(options.model, options.api_base, self.settings)
        self.executor = WorkerExecutor(
            self.workspace,
            lambda name, args, kwargs: self.gate.invoke(name, tuple(args), kwargs),
            isolation=self.isolation,
            limits=self.sandbox.limits,
            redactor=self.redactor,
            interrupted=self.gate.interrupted,
            on_event=lambda payload: self.emitter.emit(Kind.SANDBOX, payload),
            log_path=self.store.home / "run" / f"{session_id}.worker.log",
        )
        self.executor.prestart([tool.name for tool in tools])
        self.agent = CodeAgent(
            tools=tools,
            model=self.model,
            instructions=INSTRUCTIONS,
            max_steps=options.max_steps,
            executor=self.executor,
            logger=AgentLogger(level=LogLevel.OFF, console=Console(file=io.StringIO())),
        )
        self.supervisor = None

    def _started_payload(self, extra: dict[str, Any]) -> dict[str, Any]:
        return {
            "task": self.options.task,
            "model": self.options.model,
            "max_steps": self.options.max_steps,
            "title": self.options.title,
            "workspace": str(self.workspace),
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "approve": self.options.approve,
            # how the model is reached: resume and fork reuse these (never another host unless told to)
            "api_base": self.options.api_base,
            "model_settings": storable(self.settings),
            "context_window": self.window,
            "context_window_source": self.window_source,
            "parent_id": self.options.parent_id,
            "fork_step": self.options.fork_step,
            "isolation": self.isolation.level,
            "isolation_detail": self.isolation.detail,
            **extra,
        }

    def close(self) -> None:
        if self.executor is not None:
            self.executor.cleanup()
        if self.jobs is not None:
            self.jobs.shutdown()
        self.runtime.writer.flush()
        self.lock.release()


def continue_script(model, model_id: str, recorded_model: str | None, rebuilt) -> None:
    """A `script:` policy that continues a session (resume, fork at step K) skips the turns already taken:
    an exported script by its turns' recorded steps, the session's own script by counting its turns. Any
    other script is new work and starts at its top."""
    if not hasattr(model, "position"):
        return
    if getattr(model, "has_steps", False):
        model.skip_through(rebuilt.last_step)
    elif _same_script(model_id, recorded_model):
        model.position = len(rebuilt.turns)


def _same_script(a: str | None, b: str | None) -> bool:
    if not (a and b and a.startswith("script:") and b.startswith("script:")):
        return a == b
    try:
        return Path(a[7:]).expanduser().resolve() == Path(b[7:]).expanduser().resolve()
    except OSError:
        return a == b


def _sandbox_from_config() -> SandboxSettings:
    from ..config import load_config

    return settings_from_config(load_config().section("sandbox"))


def _job_manager(session: AgentSession):
    from ..config import load_config
    from ..jobs import JobManager

    def on_alert(alert: dict) -> None:  # from a job watcher thread: the agent reads it at its next boundary
        if session.supervisor is not None:
            session.supervisor.notify_alert(alert)

    config = load_config()
    allow = config.section("jobs").get("env_allow") or []
    if not isinstance(allow, list) or not all(isinstance(n, str) for n in allow):
        raise BadInput(
            "[jobs] env_allow must be a list of variable names (NAME or PREFIX_*)", hint="fix config.toml"
        )
    namespace = config.section("hf").get("namespace")
    if namespace is not None and (not isinstance(namespace, str) or not namespace.strip()):
        raise BadInput("[hf] namespace must be a user or organisation name", hint="fix config.toml")
    slurm = config.section("slurm")
    for key in ("gpu_hour_usd", "node_hour_usd", "status_interval"):
        if key in slurm and (not isinstance(slurm[key], int | float) or slurm[key] < 0):
            raise BadInput(f"[slurm] {key} must be a number ≥ 0", hint="fix config.toml")
    return JobManager(
        session.workspace,
        session.emitter,
        on_alert=on_alert,
        env_allow=allow,
        hf_namespace=namespace,
        slurm=slurm,
    )


def _make_supervisor(session: AgentSession, *, first_step: int = 1, resume_task: str | None = None):
    from .supervisor import Supervisor

    def on_end(sup):
        session.close()

    session.supervisor = Supervisor(
        session.agent,
        session.emitter,
        session.gate,
        session.approvals,
        task=session.options.task,
        max_steps=session.options.max_steps,
        first_step=first_step,
        resume_task=resume_task,
        context_window=session.window,
        context_source=session.window_source,
        settings=session.settings,
        pause_on_alert=session.options.pause_on_alert,
        flush=session.runtime.writer.flush,
        on_end=on_end,
    )
    from .persistence import install_persistence_guard  # a too-early final answer gets one nudge

    install_persistence_guard(session.agent, session.supervisor, session.ctx, session.options)
    return session.supervisor


def start_session(
    runtime: Runtime, options: SessionOptions, *, start: bool = True, session_id: str | None = None
):
    """Create a new session and (by default) start its agent. Returns the Supervisor."""
    from .models import check_model

    check_model(options.model, options.api_base)
    session = AgentSession(runtime, options, session_id or runtime.store.new_session_id())
    session.emitter.emit(Kind.SESSION_STARTED, session._started_payload({}))
    runtime.writer.flush()
    sup = _make_supervisor(session)
    if start:
        sup.start()
    return sup


def resume_session(
    runtime: Runtime,
    ref_id: str,
    *,
    model: str | None = None,
    api_base: str | None = None,
    approve: str = "ask",
    start: bool = True,
    max_steps: int | None = None,
    settings_overrides: dict[str, Any] | None = None,
    **option_overrides,
):
    """Continue a stopped session: memory is rebuilt from its stored events, numbering continues. The
    model, endpoint and model settings are the session's own unless overridden."""
    from .memory import rebuild_memory
    from .models import check_model
    from .prompts import resume_instruction

    conn = runtime.store.connect()
    try:
        row = get_session(conn, ref_id)
        if row["status"] in ("running", "paused", "waiting"):
            raise BadInput(
                f"session {ref_id} is still {row['status']} in another process",
                hint="stop it there first; a crashed one is marked interrupted at the next start",
            )
        if row["status"] == "done":
            raise BadInput(
                f"session {ref_id} is done (it gave its final answer); resuming would replace that answer",
                hint=f"to continue from it, fork it: intern-tui fork {ref_id} --step {row['steps']} --instruction '…'",
            )
        events = list(iter_events(conn, ref_id))
    finally:
        conn.close()
    if not events:
        raise InternError(f"session {ref_id} has no events to resume from")
    rebuilt = rebuild_memory(events)
    endpoint = continued_endpoint(ref_id, row["model"], events, model, api_base, settings_overrides)
    options = SessionOptions(
        task=row["task"] or "",
        approve=approve,
        max_steps=resumed_cap(ref_id, row, rebuilt.last_step, max_steps),
        **endpoint,
        **option_overrides,
    )
    check_model(options.model, options.api_base)
    session = AgentSession(runtime, options, ref_id, next_seq=events[-1].seq + 1)
    try:
        session.agent.memory.steps = rebuilt.steps
        continue_script(session.model, options.model, row["model"], rebuilt)
        from ..jobs import recover_jobs

        conn = runtime.store.connect()
        try:
            recover_jobs(conn, ref_id, session.jobs)  # jobs that outlived the last process are watched again
        finally:
            conn.close()
        session.emitter.emit(
            Kind.SESSION_STARTED,
            session._started_payload(
                {"resumed": True, "previous_status": row["status"], "restored_steps": rebuilt.last_step}
            ),
        )
        runtime.writer.flush()
        sup = _make_supervisor(
            session, first_step=rebuilt.last_step + 1, resume_task=resume_instruction(row["status"])
        )
    except BaseException:
        session.close()
        raise
    if start:
        sup.start()
    return sup


# Events that make up an agent's memory and its visible history: what a fork inherits from its parent.
INHERITED_KINDS = frozenset(
    {
        Kind.TASK,
        Kind.STEP_STARTED,
        Kind.MODEL_OUTPUT,
        Kind.CODE_ACTION,
        Kind.TOOL_CALL,
        Kind.TOOL_RESULT,
        Kind.OBSERVATION,
        Kind.ERROR,
        Kind.REDIRECTED,
        Kind.DOOM_LOOP,
        Kind.COMPACTED,
        Kind.FILE_WRITTEN,
        Kind.PLAN,
    }
)


def fork_session(
    runtime: Runtime,
    parent_id: str,
    step: int,
    *,
    instruction: str | None = None,
    model: str | None = None,
    api_base: str | None = None,
    approve: str = "ask",
    start: bool = True,
    session_id: str | None = None,
    settings_overrides: dict[str, Any] | None = None,
    **option_overrides,
):
    """A new session whose memory is the parent's first `step` steps, continuing with a new model and/or
    instruction. The fork is self-contained (the inherited events are copied, marked `inherited`) and
    links to its parent (`parent_id`, `fork_step`)."""
    from ..store.transfer import write_workspace_at
    from .memory import rebuild_memory
    from .models import check_model

    conn = runtime.store.connect()
    try:
        parent = get_session(conn, parent_id)
        events = list(iter_events(conn, parent_id))
    finally:
        conn.close()
    completed = sorted({e.step for e in events if e.kind == Kind.OBSERVATION and e.step})
    if step < 0 or (step and step not in completed):
        last = completed[-1] if completed else 0
        raise BadInput(
            f"cannot fork {parent_id} at step {step}: it has completed steps 1..{last}",
            hint="choose a step between 0 and the last completed one",
        )
    inherited = [
        e
        for e in events
        if e.kind in INHERITED_KINDS
        and (
            (e.step is None and e.kind == Kind.TASK and not e.payload.get("resumed"))
            or (e.step is not None and e.step <= step)
        )
    ]
    endpoint = continued_endpoint(parent_id, parent["model"], events, model, api_base, settings_overrides)
    options = SessionOptions(
        task=parent["task"] or "",
        **endpoint,
        max_steps=max(int(parent["max_steps"] or 300), step + 1),
        approve=approve,
        parent_id=parent_id,
        fork_step=step,
        **option_overrides,
    )
    check_model(options.model, options.api_base)
    session = AgentSession(runtime, options, session_id or runtime.store.new_session_id())
    try:
        session.emitter.emit(Kind.SESSION_STARTED, session._started_payload({"forked": True}))
        for e in inherited:
            session.emitter.emit(e.kind, {**e.payload, "inherited": True}, step=e.step)
        conn = runtime.store.connect()
        try:
            write_workspace_at(conn, parent_id, session.workspace, step)
        finally:
            conn.close()
        rebuilt = rebuild_memory(inherited, upto_step=step)
        session.agent.memory.steps = rebuilt.steps
        continue_script(session.model, options.model, parent["model"], rebuilt)
        runtime.writer.flush()
        what_next = (
            f"New instruction from the user: {instruction}" if instruction else "Continue the original task."
        )
        sup = _make_supervisor(
            session,
            first_step=step + 1,
            resume_task=(
                f"This session is a fork of session {parent_id} after its step {step}; the steps above are that "
                f"session's. Files it had written by then are in your workspace; its jobs are not. {what_next}"
            ),
        )
    except BaseException:
        session.close()
        raise
    if start:
        sup.start()
    return sup
