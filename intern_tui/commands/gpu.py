"""`intern-tui gpu`: one snapshot of the GPU table as text (or JSON), like a short `nvidia-smi`.

Exit codes: 0 when the GPUs were read *and* when there is no GPU or no driver — "no GPU here" is an
answer, not a failure, and scripts can tell the cases apart with `--json` (`state`). 1 when NVML is
present but failing (permissions, driver/library mismatch, a lost GPU).
"""

from __future__ import annotations

import argparse
import json
import logging
import sqlite3
import sys
from typing import Any, TextIO

from ..errors import InternError
from ..telemetry import fmt
from ..telemetry.gpu import STATE_ERROR, STATE_OK, Snapshot, read_snapshot

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the snapshot as one JSON object")


def run(args: argparse.Namespace, nvml: Any = None) -> int:
    """Print one GPU snapshot. `nvml` replaces the pynvml binding (tests)."""
    snap = read_snapshot(nvml=nvml, pid_to_job=_running_jobs(args))
    if getattr(args, "json", False):
        print(json.dumps(snap, ensure_ascii=False))
        return 1 if snap["state"] == STATE_ERROR else 0
    if snap["state"] == STATE_ERROR:
        raise InternError(f"cannot read the GPUs: {snap['message']}", hint="check the driver with nvidia-smi")
    write_table(snap, sys.stdout)
    return 0


def write_table(snap: Snapshot, out: TextIO) -> None:
    """The snapshot as a plain-text table (no colours: it is also read by scripts and in CI logs)."""
    if snap["state"] != STATE_OK:
        out.write(snap["message"] + "\n")
        out.write("Training jobs still run (on CPU); `intern-tui gpu` shows GPUs once a driver sees them.\n")
        return
    gpus = snap["gpus"]
    physical = sum(not g["mig"] for g in gpus)
    migs = len(gpus) - physical
    head = f"NVIDIA driver {snap['driver'] or fmt.NA}   CUDA {snap['cuda'] or fmt.NA}   {physical} GPU(s)"
    out.write(head + (f", {migs} MIG device(s)" if migs else "") + "\n")
    rows = [("GPU", "NAME", "UTIL", "MEM UTIL", "MEMORY", "POWER", "TEMP", "SM CLOCK")]
    for g in gpus:
        name = fmt.short_name(g["name"]) + (f"  [{g['error']}]" if g.get("error") else "")
        rows.append(
            (
                fmt.gpu_label(g),
                name,
                fmt.percent(g["util_gpu"]),
                fmt.percent(g["util_mem"]),
                fmt.mem_pair(g["mem_used"], g["mem_total"]),
                fmt.watts(g["power_w"], g["power_limit_w"]),
                fmt.celsius(g["temp_c"]),
                fmt.mhz(g["sm_clock_mhz"]),
            )
        )
    _write_rows(rows, out, right={2, 3, 4, 5, 6, 7})
    procs = [(fmt.gpu_label(g), p) for g in gpus for p in g["processes"]]
    out.write("\n")
    if not procs:
        out.write("No running GPU processes.\n")
    else:
        prows = [("GPU", "PID", "JOB", "GPU MEMORY", "PROCESS")]
        for label, p in procs:
            prows.append(
                (label, str(p["pid"]), _job_label(p), fmt.mem_short(p["mem_used"]), p["name"] or fmt.NA)
            )
        _write_rows(prows, out, right={1, 3})
    if snap["message"]:
        out.write(f"note: {snap['message']}\n")


def _write_rows(rows: list[tuple[str, ...]], out: TextIO, right: set[int]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        cells = [
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        out.write("  ".join(cells).rstrip() + "\n")


def _running_jobs(args: argparse.Namespace) -> dict[int, str]:
    """{pid or process group: job id} of local jobs the store says are running, to label GPU processes.

    Read-only and best effort: no home or no database simply means no labels.
    """
    try:
        from ..cli import home_from

        db = home_from(args) / "sessions.db"
        if not db.is_file():
            return {}
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1.0)
        try:
            rows = conn.execute(
                "SELECT id, pid, pgid FROM jobs WHERE status IN ('starting', 'running') AND pid IS NOT NULL"
            ).fetchall()
        finally:
            conn.close()
    except (sqlite3.Error, OSError, InternError):
        log.debug("no job labels for GPU processes", exc_info=True)
        return {}
    jobs: dict[int, str] = {}
    for job_id, pid, pgid in rows:
        jobs[int(pid)] = job_id
        if pgid:
            jobs.setdefault(int(pgid), job_id)
    return jobs


def _job_label(p: dict) -> str:
    """`job-1a2b` or, for one worker of a multi-GPU job, `job-1a2b/rank 1`."""
    if not p.get("job_id"):
        return "-"
    return p["job_id"] + (f"/rank {p['rank']}" if p.get("rank") is not None else "")
