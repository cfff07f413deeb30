"""Process-group housekeeping for local jobs: is a group alive, end it, reap what it leaves behind.

A local job runs in its own session (so its own process group, pgid = the wrapper's pid). Ending a job
means signalling the whole group: the training script, its dataloader workers, anything it spawned.

Why the subreaper: when a job's processes die together, grandchildren are re-parented to PID 1. Some
PID 1s (minimal containers, VM agents) never reap them, leaving zombies that still count as group members
for `kill(-pgid, 0)`. Marking intern-tui a child subreaper (Linux) re-parents them to us instead, and
`reap_group` collects them — only zombies of the job's own group, never another child of this process.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

_PR_SET_CHILD_SUBREAPER = 36
_subreaper_set = False


def become_subreaper() -> bool:
    """Make orphaned descendants of our jobs our children (Linux only; best effort, idempotent)."""
    global _subreaper_set
    if _subreaper_set:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        _subreaper_set = libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        _subreaper_set = False
    return _subreaper_set


def group_members(pgid: int) -> list[tuple[int, str, int]] | None:
    """(pid, state, ppid) of every process in the group, from /proc; None where /proc is unavailable."""
    if not os.path.isdir("/proc/self"):
        return None
    members = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                stat = fh.read().decode("ascii", "replace")
        except OSError:
            continue
        # The command name may contain spaces and parentheses: fields start after the last ')'.
        fields = stat.rpartition(")")[2].split()
        if len(fields) > 2 and int(fields[2]) == pgid:
            members.append((int(name), fields[0], int(fields[1])))
    return members


def reap_group(pgid: int, keep: int | None = None) -> None:
    """Collect zombies of this group that are our children (see the module docstring). `keep`: a pid left
    to its `Popen` (reaping it here would hide its exit status from `Popen.poll`)."""
    members = group_members(pgid)
    if not members:
        return
    me = os.getpid()
    for pid, state, ppid in members:
        if state == "Z" and ppid == me and pid != keep:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass


def group_alive(pgid: int, keep: int | None = None) -> bool:
    """True while any process of the group is running (zombies don't count)."""
    reap_group(pgid, keep)
    members = group_members(pgid)
    if members is not None:
        return any(state not in ("Z", "X") for _, state, _ in members)
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def signal_group(pgid: int, sig: int) -> bool:
    """Send a signal to the group; False when it no longer exists."""
    try:
        os.killpg(pgid, sig)
        return True
    except ProcessLookupError:
        return False


def end_group(
    pgid: int,
    grace: float = 10.0,
    *,
    poll: Callable[[], object] | None = None,
    keep: int | None = None,
    interval: float = 0.05,
) -> str:
    """SIGTERM the group, SIGKILL what is left after `grace` seconds, wait until it is gone.

    `poll` is called while waiting (e.g. `Popen.poll`, so our own child is reaped; pass its pid as `keep`).
    Returns "terminated", "killed" or "gone" (nothing was running)."""
    if not group_alive(pgid, keep) or not signal_group(pgid, signal.SIGTERM):
        return "gone"
    outcome = "terminated"
    deadline = time.monotonic() + grace
    while True:
        if poll is not None:
            poll()
        if not group_alive(pgid, keep):
            break
        if time.monotonic() >= deadline:
            if outcome == "killed":
                break  # unkillable (D state): give up rather than hang; the caller reports it
            signal_group(pgid, signal.SIGKILL)
            outcome = "killed"
            deadline = time.monotonic() + 5.0
        time.sleep(interval)
    if poll is not None:
        poll()
    reap_group(pgid, keep)
    return outcome


def process_identity(pid: int | None) -> str | None:
    """`<boot id>:<start time>` of a live process (Linux), or None. A PID can be reused after the process
    dies or the machine reboots; the identity can't, so re-attaching checks it before touching a group."""
    if not pid:
        return None
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        stat = Path(f"/proc/{int(pid)}/stat").read_text()
    except (OSError, ValueError):
        return None
    fields = stat[stat.rfind(")") + 2 :].split()  # the command name may contain spaces and parentheses
    return f"{boot}:{fields[19]}" if len(fields) > 19 else None
