"""Latency of the Slurm backend on a real single-node Slurm (the tests' cluster, tests/slurm_cluster.py).

    python bench/slurm_backend.py [--jobs 10]

For each job: `sbatch` (launch, through SlurmBackend), submit → RUNNING as the handle's polling sees it
(squeue), submit → finished (the job prints one line and exits), and one status poll. Needs the Slurm
binaries and root; prints a table; not a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from slurm_cluster import start_cluster  # noqa: E402

from intern_tui.jobs.backend import LaunchSpec  # noqa: E402
from intern_tui.jobs.slurm import SlurmBackend  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=10)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="intern-tui-slurm-bench-") as tmp:
        root = Path(tmp)
        cluster, why = start_cluster(root / "cluster")
        if cluster is None:
            print(f"cannot run: {why}")
            return 1
        os.environ["SLURM_CONF"] = str(cluster.conf)
        try:
            ws = root / "ws"
            ws.mkdir()
            (ws / "t.py").write_text("print('done')\n")
            backend = SlurmBackend(sys.executable, status_interval=0.0)
            rows: dict[str, list[float]] = {"sbatch": [], "submit → RUNNING": [], "submit → finished": [],
                                            "one status poll": []}  # fmt: skip
            for i in range(opts.jobs):
                spec = LaunchSpec(job_id=f"job-{i}", job_dir=ws / "jobs" / f"job-{i}", workspace=ws,
                                  script=ws / "t.py", args=[])  # fmt: skip
                t0 = time.perf_counter()
                handle = backend.launch(spec)
                rows["sbatch"].append(time.perf_counter() - t0)
                running = None
                while True:
                    p0 = time.perf_counter()
                    outcome = handle.poll()
                    rows["one status poll"].append(time.perf_counter() - p0)
                    if running is None and (handle.stage == "RUNNING" or outcome is not None):
                        running = time.perf_counter() - t0
                    if outcome is not None:
                        break
                    time.sleep(0.02)
                rows["submit → RUNNING"].append(running)
                rows["submit → finished"].append(time.perf_counter() - t0)
        finally:
            cluster.stop()
    print(f"Slurm backend, {opts.jobs} jobs on a single-node Slurm (sched/builtin)\n")
    print(f"{'measure':<20} {'p50 ms':>9} {'max ms':>9}")
    for name, values in rows.items():
        print(f"{name:<20} {statistics.median(values) * 1000:>9.0f} {max(values) * 1000:>9.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
