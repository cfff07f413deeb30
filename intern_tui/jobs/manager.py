"""JobManager: launch, watch, query, cancel and re-attach the training jobs of one session.

Every job gets a folder `workspace/jobs/<job_id>/` (log.txt, metrics.jsonl, output/, exit_code) and a
watcher thread that emits its events: `job_started`, batched `job_log`, `job_metric`, `alert` and
`job_finished`. Jobs outlive intern-tui; `recover_jobs` re-attaches them when a session resumes.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from secrets import token_hex
from typing import Any

from ..errors import ToolError
from ..events import Kind
from ..metric_values import HEADLINE_METRICS
from ..workspace import Workspace
from . import process
from .detectors import JobMonitor
from .hf import HfHandle, default_api, launch_hf, namespace_from_url
from .local import (
    ExitedHandle,
    GoneHandle,
    LocalHandle,
    build_command,
    check_agent_env,
    child_env,
    read_exit_code,
    start_local,
)
from .metrics import STDOUT_MARKER, MetricsTracker, clean_line
from .watcher import JobWatcher, WatchState

BACKENDS = ("local", "hf")


@dataclass
class Job:
    job_id: str
    backend: str
    script: str
    args: list[str]
    name: str | None
    state: WatchState
    watcher: JobWatcher | None = None
    detached_reason: str | None = None  # set when a re-attached job can't be watched


def normalize_args(args: Any) -> list[str]:
    """Script arguments from a list, a command-line string, or a dict of options ({"max_steps": 20})."""
    if args is None:
        return []
    if isinstance(args, str):
        return shlex.split(args)
    if isinstance(args, list | tuple):
        return [str(a) for a in args]
    if isinstance(args, dict):
        out: list[str] = []
        for key, value in args.items():
            flag = key if str(key).startswith("-") else f"--{key}"
            if value is True:
                out.append(flag)
            elif value is not None and value is not False:
                out += [flag, str(value)]
        return out
    raise ToolError(
        f"args must be a list of strings, a string or a dict of options, not {type(args).__name__}"
    )


class JobManager:
    """The jobs of one session (see the module docstring). Thread-safe."""

    def __init__(
        self,
        workspace: Path,
        emitter: Any,
        *,
        python: str = sys.executable,
        on_alert: Callable[[dict[str, Any]], Any] | None = None,
        hf_api: Any = None,
        clock: Callable[[], float] = time.time,
        stall_seconds: float = 900.0,
        cancel_grace: float = 10.0,
        poll_interval: float = 0.15,
        hold_seconds: float = 2.0,
        hf_status_interval: float = 10.0,
        env_allow: list[str] | tuple[str, ...] = (),
    ) -> None:
        self.workspace = Path(workspace).resolve()
        self.files = Workspace(self.workspace)
        self.emitter = emitter
        self.python = python
        self.on_alert = on_alert
        self.hf_api = hf_api
        self.clock = clock
        self.stall_seconds = stall_seconds
        self.cancel_grace = cancel_grace
        self.poll_interval = poll_interval
        self.hold_seconds = hold_seconds
        self.hf_status_interval = hf_status_interval
        self.env_allow = tuple(env_allow)
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    # -- launching --------------------------------------------------------------------------------

    def launch(
        self,
        script: str,
        backend: str = "local",
        args: Any = None,
        env: dict[str, Any] | None = None,
        gpus: int | None = None,
        accelerate: bool = False,
        flavor: str | None = None,
        timeout: float | None = None,
        name: str | None = None,
        secrets: dict[str, str] | None = None,
        pinned: Any = None,
    ) -> str:
        """Start `script` (a .py file inside the workspace) and return the new job id. With `pinned` (the
        snapshot an approval pinned, tools/pinning.py) the job runs that snapshot, not the live file."""
        if backend not in BACKENDS:
            raise ToolError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
        if pinned is not None:
            if Path(script) != Path(pinned.script):
                raise ToolError(f"{script!r} is not the script this approval pinned ({pinned.script})")
            pinned.verify()
        path = pinned.script_path if pinned is not None else self.files.resolve(script)
        if not path.is_file():
            raise ToolError(
                f"no script {script!r} in the workspace; write_file() it first (list_files() shows what exists)"
            )
        if path.suffix != ".py":
            raise ToolError(f"{script!r} is not a Python script (.py)")
        if gpus is not None and (not isinstance(gpus, int) or gpus < 0):
            raise ToolError("gpus must be a whole number ≥ 0 (the number of GPUs/processes), or None")
        if timeout is not None and (not isinstance(timeout, int | float) or timeout <= 0):
            raise ToolError("timeout must be a positive number of seconds, or None")
        if env is not None and not isinstance(env, dict):
            raise ToolError("env must be a dict of environment variables")
        argv = normalize_args(args)
        job_id = "job-" + _token()
        job_dir = self.workspace / "jobs" / job_id
        rel_script = pinned.script if pinned is not None else self.files.relative(path)
        log_path = job_dir / "log.txt"
        if backend == "local":
            command = build_command(self.python, path, argv, gpus=gpus, accelerate=accelerate)
            job_env = child_env(
                dict(os.environ), env, job_id, job_dir, secrets=secrets, extra_allow=self.env_allow
            )
            handle: Any = start_local(job_dir, command, cwd=self.workspace, env=job_env)
        else:
            check_agent_env(env)
            api = self.hf_api if self.hf_api is not None else default_api()
            remote_env = {str(k): str(v) for k, v in (env or {}).items() if v is not None}
            remote_env.update(
                {"INTERN_TUI_JOB_ID": job_id, "INTERN_TUI_METRICS_STDOUT": "1", "PYTHONUNBUFFERED": "1"}
            )
            handle = launch_hf(
                api,
                script=path,
                args=argv,
                env=remote_env,
                secrets=secrets,
                flavor=flavor,
                timeout=timeout,
                name=name or f"intern-tui-{job_id}",
                log_path=log_path,
                status_interval=self.hf_status_interval,
            )
        started_at = self.clock()
        self.emitter.emit(
            Kind.JOB_STARTED,
            {
                "job_id": job_id,
                "backend": backend,
                "script": rel_script,
                "args": argv,
                "pid": handle.pid,
                "pgid": handle.pgid,
                "proc_id": process.process_identity(handle.pid),
                "remote_id": handle.remote_id,
                "url": handle.url,
                "flavor": handle.flavor,
                "log_path": self.files.relative(log_path),
                "name": name,
                "gpus": gpus,
                "timeout": timeout,
                "pinned_sha256": pinned.digest if pinned is not None else None,
                "secrets": sorted(secrets or {}),
            },
        )
        self._watch(job_id, backend, rel_script, argv, name, job_dir, handle, started_at, timeout)
        return job_id

    def _watch(
        self,
        job_id: str,
        backend: str,
        script: str,
        args: list[str],
        name: str | None,
        job_dir: Path,
        handle: Any,
        started_at: float,
        timeout: float | None,
        *,
        log_offset: int = 0,
        tracker: MetricsTracker | None = None,
        alerts: list[dict[str, Any]] | None = None,
    ) -> Job:
        state = WatchState(
            job_id=job_id,
            job_dir=job_dir,
            handle=handle,
            started_at=started_at,
            tracker=tracker or MetricsTracker(job_id, hold_seconds=self.hold_seconds),
            monitor=JobMonitor(job_id, clock=self.clock, stall_seconds=self.stall_seconds),
            log_offset=log_offset,
            timeout=timeout,
            alerts=list(alerts or []),
        )
        watcher = JobWatcher(
            state,
            self.emitter.emit,
            on_alert=self.on_alert,
            clock=self.clock,
            poll_interval=self.poll_interval,
        )
        job = Job(job_id, backend, script, args, name, state, watcher)
        with self._lock:
            self._jobs[job_id] = job
        watcher.start()
        return job

    # -- queries ----------------------------------------------------------------------------------

    def _job(self, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
            known = ", ".join(self._jobs) or "none yet"
        if job is None:
            raise ToolError(f"unknown job id {job_id!r}; jobs of this session: {known}")
        return job

    def job_ids(self) -> list[str]:
        with self._lock:
            return list(self._jobs)

    def pid_map(self) -> dict[int, str]:
        """{pid or process group id: job id} of the running local jobs, for the GPU pane's attribution."""
        with self._lock:
            jobs = list(self._jobs.values())
        out: dict[int, str] = {}
        for job in jobs:
            handle = job.state.handle
            if job.state.finished.is_set() or getattr(handle, "backend", None) != "local":
                continue
            for pid in (getattr(handle, "pid", None), getattr(handle, "pgid", None)):
                if pid:
                    out[pid] = job.job_id
        return out

    def status(self, job_id: str) -> dict[str, Any]:
        job = self._job(job_id)
        st = job.state
        h = st.handle
        outcome = st.outcome
        if outcome is not None:
            status = outcome.status
        elif job.detached_reason:
            status = "unknown"
        else:
            status = "canceling" if st.cancel_requested else "running"
        out: dict[str, Any] = {
            "job_id": job.job_id,
            "backend": job.backend,
            "status": status,
            "script": job.script,
            "args": job.args,
            "exit_code": outcome.exit_code if outcome else None,
            "error": outcome.error if outcome else job.detached_reason,
            "elapsed_s": st.duration_s
            if st.duration_s is not None
            else round(self.clock() - st.started_at, 1),
            "log_path": self.files.relative(st.job_dir / "log.txt"),
            "output_dir": self.files.relative(st.job_dir / "output"),
            "last_step": st.tracker.last_step,
            "latest": _main_metrics(st.tracker.latest),
            "alerts": [f"{a['severity']}: {a['kind']}" for a in st.alerts],
        }
        if job.backend == "local":
            out.update(pid=h.pid, pgid=h.pgid)
        else:
            out.update(remote_id=h.remote_id, url=h.url, flavor=h.flavor, stage=getattr(h, "stage", None))
        return out

    def logs(self, job_id: str, tail: int = 100) -> str:
        """The last `tail` lines of the job's log as a terminal would show them (progress bars collapsed)."""
        job = self._job(job_id)
        tail = max(1, min(int(tail), 5000))
        path = job.state.job_dir / "log.txt"
        try:
            with open(path, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                size = fh.tell()
                fh.seek(max(0, size - max(tail * 1000, 256_000)))
                data = fh.read()
        except FileNotFoundError:
            return ""
        raw_lines = data.decode("utf-8", "replace").split("\n")
        if size > len(data):
            raw_lines = raw_lines[1:]  # the first one is cut
        lines = [clean_line(raw) for raw in raw_lines]
        lines = [ln for ln in lines if ln and not ln.startswith(STDOUT_MARKER)]
        return "\n".join(lines[-tail:])

    def metrics(self, job_id: str) -> dict[str, Any]:
        """Latest value of every metric, first/min/max of the main ones, steps logged and alerts so far."""
        job = self._job(job_id)
        tr = job.state.tracker
        trend = {
            k: {"first": r[0], "min": r[1], "max": r[2]}
            for k, r in tr.ranges.items()
            if k in HEADLINE_METRICS
        }
        return {
            "job_id": job_id,
            "status": self.status(job_id)["status"],
            "steps_logged": len(tr.steps),
            "last_step": tr.last_step,
            "latest": dict(tr.latest),
            "trend": trend,
            "alerts": list(job.state.alerts),
            "parse": dict(tr.stats),
        }

    # -- control ----------------------------------------------------------------------------------

    def cancel(self, job_id: str) -> dict[str, Any]:
        """Stop a job: SIGTERM to its process group, SIGKILL after the grace period (HF: cancel_job)."""
        job = self._job(job_id)
        st = job.state
        if st.finished.is_set():
            return {**self.status(job_id), "note": "the job had already finished"}
        if job.detached_reason:
            raise ToolError(
                f"job {job_id} is not watched ({job.detached_reason}); it cannot be cancelled from here"
            )
        st.cancel_requested = True
        st.cancel_outcome = st.handle.cancel(self.cancel_grace)
        st.finished.wait(self.cancel_grace + 15 + (self.hf_status_interval if job.backend == "hf" else 0))
        return self.status(job_id)

    def wait(self, job_id: str, timeout: float | None = None) -> dict[str, Any]:
        """Block until the job finishes (or `timeout` seconds pass); returns its status."""
        job = self._job(job_id)
        job.state.finished.wait(timeout)
        return self.status(job_id)

    def shutdown(self) -> None:
        """Stop watching (threads end); the jobs themselves keep running and can be re-attached."""
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            if job.watcher is not None:
                job.watcher.stop()
            if isinstance(job.state.handle, HfHandle):
                job.state.handle.close()

    # -- re-attach --------------------------------------------------------------------------------

    def reattach(self, rows: Iterable[dict[str, Any]]) -> list[str]:
        """Watch again the jobs a previous process started (rows of the `jobs` table, with `log_offset`,
        `metric_payloads` and `alerts` from `recovery.load_job_rows`). Finished-while-away jobs get their
        `job_finished`; a job whose processes vanished without an exit code is reported as lost.
        Returns the ids now watched."""
        attached = []
        for row in rows:
            job_id = row.get("job_id") or row.get("id")
            if not job_id or row.get("status") not in ("running", "starting"):
                continue
            with self._lock:
                if job_id in self._jobs:
                    continue
            if self._reattach_one(job_id, row):
                attached.append(job_id)
        return attached

    def _reattach_one(self, job_id: str, row: dict[str, Any]) -> bool:
        job_dir = self.workspace / "jobs" / job_id
        backend = row.get("backend") or "local"
        tracker = MetricsTracker(job_id, hold_seconds=self.hold_seconds)
        tracker.restore(row.get("metric_payloads") or [])
        args = row.get("args") or []
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except ValueError:
                args = []
        script, started_at = row.get("script") or "", float(row.get("started_at") or self.clock())
        if backend == "hf":
            try:
                api = self.hf_api if self.hf_api is not None else default_api()
            except ToolError as exc:  # offline now: list the job, say why it isn't followed
                monitor = JobMonitor(job_id, clock=self.clock)
                state = WatchState(job_id, job_dir, None, started_at, tracker, monitor)
                with self._lock:
                    self._jobs[job_id] = Job(
                        job_id, backend, script, list(args), None, state, detached_reason=str(exc)
                    )
                return False
            handle: Any = HfHandle(
                api,
                row.get("remote_id") or "",
                namespace=namespace_from_url(row.get("url")),
                url=row.get("url"),
                flavor=row.get("flavor"),
                log_path=job_dir / "log.txt",
                status_interval=self.hf_status_interval,
            )
        elif row.get("pid") and _same_process(row):
            handle = LocalHandle(int(row["pid"]), int(row.get("pgid") or row["pid"]), job_dir / "exit_code")
        elif row.get("pid"):  # its PID is free or belongs to another program now: never signal it
            code = read_exit_code(job_dir / "exit_code")
            handle = (
                ExitedHandle(code)
                if code is not None
                else GoneHandle(
                    "the job's process is gone (intern-tui was not running, or the machine restarted) and left "
                    "no exit code"
                )
            )
        else:  # never got a process: nothing to watch, but its end must still be recorded
            handle = GoneHandle("the job has no recorded process id")
        self._watch(
            job_id,
            backend,
            script,
            list(args),
            row.get("name"),
            job_dir,
            handle,
            started_at,
            row.get("timeout"),
            log_offset=int(row.get("log_offset") or 0),
            tracker=tracker,
            alerts=row.get("alerts"),
        )
        return True


def _same_process(row: dict[str, Any]) -> bool:
    """Is the recorded PID still the job's wrapper? Jobs recorded without an identity (older sessions) or
    from an imported log can't be verified and are not trusted."""
    try:
        pid = int(row["pid"])
    except (TypeError, ValueError):
        return False
    recorded = row.get("proc_id")
    return recorded is not None and process.process_identity(pid) == recorded


def _main_metrics(latest: dict[str, float]) -> dict[str, float]:
    return {k: latest[k] for k in HEADLINE_METRICS if k in latest}


def _token() -> str:
    return token_hex(4)
