"""Which of our jobs owns a GPU process: walk the process's ancestors in /proc.

A training job is launched as `/bin/sh -c ...` (often wrapping `accelerate launch` or `torchrun`), so the
process holding GPU memory is a grandchild of the PID the job runner knows. We walk up the parent chain
(and check the process group, which survives a parent that exited) until a PID belongs to one of our jobs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

# A job lookup is either a mapping {pid: job_id} or a callable pid -> job_id | None.
PidToJob = Callable[[int], str | None] | Mapping[int, str]

MAX_DEPTH = 32  # deeper than any launcher chain; stops a loop if /proc is odd


def as_lookup(pid_to_job: PidToJob | None) -> Callable[[int], str | None]:
    """Normalise the injected job lookup to a callable; None means 'we launched nothing'."""
    if pid_to_job is None:
        return lambda pid: None
    if isinstance(pid_to_job, Mapping):
        return pid_to_job.get
    return pid_to_job


class ProcessTable:
    """Reads what we need about a PID from a procfs root (injectable so tests can point elsewhere)."""

    def __init__(self, root: Path | str = "/proc"):
        self.root = Path(root)

    def exists(self, pid: int) -> bool:
        """Whether the PID is visible in our PID namespace (a container hides the host's PIDs)."""
        return pid > 0 and (self.root / str(pid)).is_dir()

    def stat(self, pid: int) -> tuple[int, int] | None:
        """(parent PID, process group) of a live PID, or None if it is gone or unreadable."""
        try:
            text = (self.root / str(pid) / "stat").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
        # The command name is in parentheses and may itself contain spaces or ')': split at the last one.
        fields = text[text.rfind(")") + 2 :].split()
        try:
            return int(fields[1]), int(fields[2])
        except (IndexError, ValueError):
            return None

    def name(self, pid: int) -> str | None:
        try:
            return (self.root / str(pid) / "comm").read_text(
                encoding="utf-8", errors="replace"
            ).strip() or None
        except OSError:
            return None

    def rank(self, pid: int) -> int | None:
        """The distributed rank of a launcher's worker (torchrun and `accelerate launch` set RANK in each
        worker's environment), or None. Only our own processes' environments are readable."""
        try:
            data = (self.root / str(pid) / "environ").read_bytes()
        except OSError:
            return None
        found: dict[str, int] = {}
        for item in data.split(b"\0"):
            key, eq, value = item.partition(b"=")
            if eq and key in (b"RANK", b"LOCAL_RANK") and value.isdigit():
                found[key.decode()] = int(value)
        return found.get("RANK", found.get("LOCAL_RANK"))

    def job_of(self, pid: int, lookup: Callable[[int], str | None]) -> str | None:
        """The job that owns `pid`: the PID itself, an ancestor, or its process group is a job's PID."""
        seen: set[int] = set()
        current = pid
        group = None
        for _ in range(MAX_DEPTH):
            if current <= 1 or current in seen:
                break
            seen.add(current)
            if (job := lookup(current)) is not None:
                return job
            info = self.stat(current)
            if info is None:
                break
            parent, pgid = info
            if group is None:
                group = pgid
            current = parent
        # A worker whose launcher already exited is re-parented to init but keeps the job's process group.
        if group is not None and group not in seen and group > 1:
            return lookup(group)
        return None
