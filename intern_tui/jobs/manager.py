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
from .backend import BillingError, LaunchSpec, close_handle, status_fields
from .detectors import JobMonitor
from .hf import HfBackend
from .local import LocalBackend
from .metrics import STDOUT_MARKER, MetricsTracker, clean_line
from .slurm import SlurmBackend
from .watcher import JobWatcher, WatchState

BACKENDS = ("local", "hf", "slurm")


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
        hf_namespace: str | None = None,
        slurm: dict[str, Any] | None = None,
        slurm_status_interval: float | None = None,
        nvml: Any = None,
        gpu_snapshot: Callable[[], dict[str, Any]] | None = None,
        backends: dict[str, Any] | None = None,
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
        if gpu_snapshot is None:

            def gpu_snapshot() -> dict[str, Any]:  # the GPU sampler's table, read now (NVML, no torch)
                from ..telemetry.gpu import read_snapshot

                return read_snapshot(nvml=nvml)

        # Where jobs run (backend.py): each turns a LaunchSpec into a handle the watcher follows.
        self.backends: dict[str, Any] = {
            "local": LocalBackend(python, env_allow=self.env_allow, gpu_snapshot=gpu_snapshot),
            "hf": HfBackend(hf_api, namespace=hf_namespace, status_interval=hf_status_interval),
            "slurm": SlurmBackend(
                python, slurm, env_allow=self.env_allow, status_interval=slurm_status_interval
            ),
            **(backends or {}),
        }
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
        nodes: int | None = None,
        launcher: str | None = None,
        namespace: str | None = None,
        partition: str | None = None,
    ) -> str:
        """Start `script` (a .py file inside the workspace) and return the new job id. With `pinned` (the
        snapshot an approval pinned, tools/pinning.py) the job runs that snapshot, not the live file."""
        if backend not in self.backends:
            raise ToolError(f"backend must be one of {', '.join(self.backends)}, not {backend!r}")
        if nodes is not None and (not isinstance(nodes, int) or isinstance(nodes, bool) or nodes < 1):
            raise ToolError("nodes must be a whole number ≥ 1, or None")
        if (nodes or 1) > 1 and backend != "slurm":
            raise ToolError(f"nodes={nodes} needs backend='slurm' (local and HF jobs run on one machine)")
        if namespace is not None and backend != "hf":
            raise ToolError("namespace= is the HF Jobs billing namespace: only for backend='hf'")
        if launcher not in (None, "accelerate", "torchrun"):
            raise ToolError(f"launcher must be 'accelerate' or 'torchrun', not {launcher!r}")
        if launcher is not None and backend == "hf":
            raise ToolError("launcher= is for local and Slurm jobs; on HF Jobs pick a multi-GPU flavor")
        if partition is not None and backend != "slurm":
            raise ToolError("partition= is a Slurm partition: only for backend='slurm'")
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
        spec = LaunchSpec(job_id=job_id, job_dir=job_dir, workspace=self.workspace, script=path, args=argv,
                          env=env, secrets=dict(secrets or {}), gpus=gpus, nodes=nodes or 1,
                          accelerate=accelerate, launcher=launcher, flavor=flavor, namespace=namespace,
                          partition=partition, timeout=timeout, name=name)  # fmt: skip
        try:
            handle: Any = self.backends[backend].launch(spec)
        except BillingError as exc:
            self._billing_refused(spec, backend, rel_script, log_path, str(exc))
            raise
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
                "nodes": nodes or 1,
                "launcher": launcher,
                "namespace": getattr(handle, "namespace", None),
                "partition": getattr(handle, "partition", None),
                "cuda_visible_devices": getattr(handle, "gpu_ids", None),
                "timeout": timeout,
                "pinned_sha256": pinned.digest if pinned is not None else None,
                "secrets": sorted(secrets or {}),
            },
        )
        self._watch(job_id, backend, rel_script, argv, name, job_dir, handle, started_at, timeout)
        return job_id

    def _billing_refused(
        self, spec: LaunchSpec, backend: str, script: str, log_path: Path, error: str
    ) -> None:
        """The provider refused to bill the launch: record a failed job with the reason, raise a critical
        alert that pauses the agent (supervisor), so a human decides; nothing is retried."""
        self.emitter.emit(
            Kind.JOB_STARTED,
            {"job_id": spec.job_id, "backend": backend, "script": script, "args": spec.args, "pid": None,
             "pgid": None, "remote_id": None, "url": None, "flavor": spec.flavor,
             "log_path": self.files.relative(log_path), "name": spec.name, "gpus": spec.gpus,
             "nodes": spec.nodes, "namespace": spec.namespace, "timeout": spec.timeout},
        )  # fmt: skip
        self.emitter.emit(
            Kind.JOB_FINISHED,
            {"job_id": spec.job_id, "status": "failed", "exit_code": None, "error": error, "duration_s": 0.0},
        )
        alert = {"job_id": spec.job_id, "kind": "billing", "severity": "critical", "message": error,
                 "step": None, "metric": None, "pause": True}  # fmt: skip
        self.emitter.emit(Kind.ALERT, alert)
        if self.on_alert is not None:
            self.on_alert(alert)

    def estimate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """What a launch would cost on its backend: {"gpu_hours", "usd", "summary"}."""
        name = arguments.get("backend", "local") or "local"
        backend = self.backends.get(name)
        if backend is None:
            return {"gpu_hours": None, "usd": None, "summary": f"unknown backend {name!r}",
                    "error": f"backend must be one of {', '.join(self.backends)}"}  # fmt: skip
        return backend.estimate(arguments)

    def free_gpus(self) -> list[int] | None:
        return self.backends["local"].free_gpus()

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
        out.update(status_fields(h) if h is not None else {})
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
        st.finished.wait(self.cancel_grace + 15 + float(getattr(st.handle, "status_interval", 0) or 0))
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
            if job.state.handle is not None:
                close_handle(job.state.handle)

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
        impl = self.backends.get(backend)
        try:
            if impl is None:
                raise ToolError(f"backend {backend!r} is not available in this version")
            handle: Any = impl.reattach(row, job_dir)
        except ToolError as exc:  # offline now, or no client: list the job, say why it isn't followed
            monitor = JobMonitor(job_id, clock=self.clock)
            state = WatchState(job_id, job_dir, None, started_at, tracker, monitor)
            with self._lock:
                self._jobs[job_id] = Job(
                    job_id, backend, script, list(args), None, state, detached_reason=str(exc)
                )
            return False
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


def _main_metrics(latest: dict[str, float]) -> dict[str, float]:
    return {k: latest[k] for k in HEADLINE_METRICS if k in latest}


def _token() -> str:
    return token_hex(4)
