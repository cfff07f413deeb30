"""The compute-backend interface: what every place a job can run (local, HF Jobs, Slurm) provides.

A backend turns an approved launch (`LaunchSpec`) into a *handle* and can rebuild a handle from what the
store recorded (re-attach after a restart). The manager and the watcher only talk to handles:

- `poll() -> Outcome | None`  None while the job runs, how it ended once it has;
- `running() -> bool`          anything of the job still alive (the watcher ends local leftovers);
- `cancel(grace) -> str`       stop it ("terminated", "killed", "requested", "gone");
- `close()`                    stop background threads (the job itself keeps running);
- `status_fields() -> dict`    backend-specific fields for `job_status` (pid, remote id, stage, nodes…);
- attributes `backend, pid, pgid, remote_id, url, flavor` (None where they don't apply) and `stage`
  ("RUNNING" while it runs; any other value means queued: not counted as stalled).

Logs: every backend delivers the job's output into `jobs/<id>/log.txt` (local and Slurm write it
directly, HF mirrors the remote stream), so one watcher, one parser and one set of detectors serve all.
Cost: `estimate(arguments)` returns `{"gpu_hours", "usd", "summary"}` for the approval and the budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..errors import ToolError


@dataclass
class LaunchSpec:
    """One approved launch, as a backend receives it."""

    job_id: str
    job_dir: Path
    workspace: Path
    script: Path  # absolute path of the (pinned) script
    args: list[str]
    env: dict[str, Any] | None = None  # the agent's `env=` additions (checked)
    secrets: dict[str, str] = field(default_factory=dict)
    gpus: int | None = None  # per node
    nodes: int = 1
    accelerate: bool = False
    launcher: str | None = None  # local/slurm: "accelerate" or "torchrun" for several processes
    flavor: str | None = None  # HF hardware
    namespace: str | None = None  # HF billing namespace
    partition: str | None = None  # Slurm
    timeout: float | None = None
    name: str | None = None

    @property
    def log_path(self) -> Path:
        return self.job_dir / "log.txt"


class Handle(Protocol):
    backend: str
    pid: int | None
    pgid: int | None
    remote_id: str | None
    url: str | None
    flavor: str | None

    def poll(self) -> Any: ...
    def running(self) -> bool: ...
    def cancel(self, grace: float) -> str: ...


class ComputeBackend(Protocol):
    """See the module docstring."""

    name: str

    def launch(self, spec: LaunchSpec) -> Handle: ...

    def reattach(self, row: dict[str, Any], job_dir: Path) -> Handle: ...

    def estimate(self, arguments: dict[str, Any]) -> dict[str, Any]: ...


class BillingError(ToolError):
    """The provider refused to bill the launch (HTTP 402, out of credits or quota). Not retried, and never
    moved to another namespace: a human decides."""


def status_fields(handle: Any) -> dict[str, Any]:
    """A handle's own fields for job_status (handles without `status_fields` give pid/pgid)."""
    fn = getattr(handle, "status_fields", None)
    if callable(fn):
        return fn()
    return {"pid": getattr(handle, "pid", None), "pgid": getattr(handle, "pgid", None)}


def close_handle(handle: Any) -> None:
    fn = getattr(handle, "close", None)
    if callable(fn):
        fn()
