"""CPU cost of the GPU sampler, with the fake NVML binding replaying the recorded 2x H100 table.

    python bench/gpu_sampler.py [--seconds 10]

Part 1 times `sample_once()` (NVML calls through the fake, /proc reads, job lookups through real
processes) per scenario and converts it to CPU share of one core at 1 Hz. Part 2 runs the real daemon
thread at 1 Hz for a few seconds and measures the process's CPU time while the main thread sleeps.
The fake answers instantly, so this is the sampler's own overhead; a real driver adds its call latency
(tens of microseconds per NVML call) on the sampler thread, never on the UI. Prints a table; not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from nvml_fake import FakeDevice, h100_fake, mig_child  # noqa: E402

from intern_tui.telemetry.gpu import GpuSampler  # noqa: E402
from intern_tui.tui.widgets.gpu_pane import GpuPane  # noqa: E402

GIB = 1024**3
FIXTURE = ROOT / "tests" / "fixtures" / "nvidia_smi_h100x2.txt"


def _job_processes(n: int) -> tuple[subprocess.Popen, list[int]]:
    """A job as the runner launches it: one /bin/sh with n children (the GPU workers)."""
    shell = subprocess.Popen(
        ["/bin/sh", "-c", " ".join(["sleep 600 &"] * n) + " wait"], start_new_session=True
    )
    for _ in range(500):
        kids = [int(p) for p in os.listdir("/proc") if p.isdigit() and _ppid(int(p)) == shell.pid]
        if len(kids) == n:
            return shell, kids
        time.sleep(0.01)
    raise RuntimeError("workers did not start")


def _ppid(pid: int) -> int | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(text[text.rfind(")") + 2 :].split()[1])


def scenarios(workers: list[int]):
    fake, _ = h100_fake(FIXTURE)
    yield "2x H100, idle", fake, {}

    fake, _ = h100_fake(FIXTURE)
    for i, pid in enumerate(workers[:8]):
        fake.devices[i % 2].processes.append((pid, 30 * GIB))
    yield "2x H100, 8 job workers", fake, "shell"

    fake, _ = h100_fake(FIXTURE)
    template = fake.devices[0]
    fake.devices = [
        FakeDevice(**{**template.__dict__, "uuid": f"GPU-{i}", "processes": [], "unsupported": set()})
        for i in range(8)
    ]
    for i, pid in enumerate(workers[:32]):
        fake.devices[i % 8].processes.append((pid, 10 * GIB))
    yield "8x H100, 32 job workers", fake, "shell"

    fake, _ = h100_fake(FIXTURE)
    fake.devices[0].mig_enabled = True
    fake.devices[0].mig_slots = [
        mig_child(f"NVIDIA H100 80GB HBM3 MIG 1g.10gb #{i}", f"MIG-{i}", 10 * GIB, GIB, [(workers[i], GIB)])
        for i in range(7)
    ]
    yield "H100 with 7 MIG instances", fake, "shell"


async def pane_update_cost(sampler: GpuSampler, fake, repeat: int = 200) -> tuple[float, float]:
    """Seconds per GpuPane.update_snapshot with a new sample (history full), and with the same one."""
    from textual.app import App, ComposeResult

    class PaneApp(App):
        def compose(self) -> ComposeResult:
            yield GpuPane()

    app = PaneApp()
    async with app.run_test(size=(100, 40)) as pilot:
        pane = app.query_one(GpuPane)
        snaps = []
        for i in range(repeat):
            fake.devices[0].util_gpu = i % 100
            snaps.append((sampler.sample_once(), sampler.history()))
        start = time.perf_counter()
        for snap, history in snaps:
            pane.update_snapshot(snap, history)
            for card in pane.cards.values():
                card.render()  # what the next paint does
        new = (time.perf_counter() - start) / repeat
        await pilot.pause()
        snap, history = snaps[-1]
        start = time.perf_counter()
        for _ in range(1000):
            pane.update_snapshot(snap, history)
        same = (time.perf_counter() - start) / 1000
        return new, same


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the live 1 Hz run")
    parser.add_argument("--samples", type=int, default=2000, help="samples per scenario in part 1")
    args = parser.parse_args()

    shell, workers = _job_processes(32)
    try:
        print(f"{'scenario':<28} {'µs/sample (CPU)':>16} {'CPU at 1 Hz':>12}")
        for name, fake, mapping in scenarios(workers):
            pid_to_job = {shell.pid: "job-1"} if mapping == "shell" else {}
            sampler = GpuSampler(nvml=fake, pid_to_job=pid_to_job)
            sampler.sample_once()  # NVML init, outside the timing
            start = time.process_time()
            for _ in range(args.samples):
                sampler.sample_once()
            per_sample = (time.process_time() - start) / args.samples
            jobs = sum(p["job_id"] == "job-1" for g in sampler.snapshot["gpus"] for p in g["processes"])
            sampler.close()
            print(
                f"{name:<28} {per_sample * 1e6:>16.0f} {per_sample * 100:>11.3f}%   ({jobs} procs -> job-1)"
            )

        fake, _ = h100_fake(FIXTURE)
        for i, pid in enumerate(workers[:8]):
            fake.devices[i % 2].processes.append((pid, 30 * GIB))
        sampler = GpuSampler(nvml=fake, pid_to_job={shell.pid: "job-1"}, interval=1.0)
        wall0, cpu0 = time.monotonic(), time.process_time()
        sampler.start()
        time.sleep(args.seconds)
        sampler.stop()
        wall, cpu = time.monotonic() - wall0, time.process_time() - cpu0
        print(
            f"\nlive daemon thread, 1 Hz, 2x H100 + 8 workers, {wall:.1f} s: "
            f"{cpu * 1000:.1f} ms CPU = {cpu / wall * 100:.3f}% of one core (target < 1%)"
        )
        fake, _ = h100_fake(FIXTURE)
        for i, pid in enumerate(workers[:8]):
            fake.devices[i % 2].processes.append((pid, 30 * GIB))
        sampler = GpuSampler(nvml=fake, pid_to_job={shell.pid: "job-1"}, history_size=600)
        for _ in range(600):
            sampler.sample_once()
        new, same = asyncio.run(pane_update_cost(sampler, fake))
        print(
            f"GpuPane.update_snapshot, 2 GPUs, 600-sample history: new sample {new * 1e3:.2f} ms incl. card render,"
        )
        print(f"  same sample again {same * 1e6:.2f} µs (the 10-20 Hz path between samples)")
    finally:
        os.killpg(shell.pid, signal.SIGKILL)
        shell.wait()


if __name__ == "__main__":
    main()
