"""UI under load: the app runs headless while a job floods 10k log lines/s for 10 s and the agent keeps
stepping. Reports key-to-frame latency (p50/p99) and memory growth.

    python bench/ui_flood.py [--seconds 10] [--rate 10000] [--batch 100]

Key-to-frame: from posting a key event to the end of the first screen refresh after its action ran (the
action toggles the zoom, a real relayout). Lines arrive in job_log events of --batch lines (the job
runner batches like this); --batch 1 is the unbatched worst case.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from helpers import write_policy  # noqa: E402
from textual import events  # noqa: E402
from textual.binding import Binding  # noqa: E402

from intern_tui.agent.session import Runtime, SessionOptions  # noqa: E402
from intern_tui.tui.app import InternApp  # noqa: E402


class ProbedApp(InternApp):
    """The real app plus one key whose action does real work (zoom) and reports when it is on screen."""

    BINDINGS = [*InternApp.BINDINGS, Binding("f12", "probe", "probe", id="probe")]

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.painted = asyncio.Event()

    def action_probe(self) -> None:
        self.action_zoom()
        self.call_after_refresh(self.painted.set)


LINE = "{'loss': 1.2345, 'grad_norm': 0.81, 'learning_rate': 1.9e-05, 'epoch': 0.42}  12%|█▏   | 120/1000 [00:42<05:01]"


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 1e6


def flood(emitter, seconds: float, rate: int, batch: int, stop: threading.Event) -> int:
    emitter.emit("job_started", {"job_id": "job-flood", "backend": "local", "script": "train.py"})
    sent, t0 = 0, time.perf_counter()
    while not stop.is_set() and time.perf_counter() - t0 < seconds:
        due = int((time.perf_counter() - t0) * rate)
        while sent < due:
            emitter.emit(
                "job_log", {"job_id": "job-flood", "lines": [f"{LINE} #{sent + i}" for i in range(batch)]}
            )
            sent += batch
        time.sleep(0.002)
    emitter.emit("job_finished", {"job_id": "job-flood", "status": "completed", "exit_code": 0})
    return sent


async def run(seconds: float, rate: int, batch: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        turns = [
            (f"Step {i}: check the run.", "import time\ntime.sleep(0.5)\nprint('ok')") for i in range(100)
        ]
        model = write_policy(Path(tmp) / "p.jsonl", turns)
        rt = Runtime.open(Path(tmp) / "home")
        app = ProbedApp(rt, options=SessionOptions(task="flood", model=model, max_steps=200))
        latencies: list[float] = []
        async with app.run_test(size=(140, 40)) as pilot:
            while app.supervisor is None:
                await pilot.pause(0.05)
            await pilot.press("j")  # the jobs pane (with the live log) is the visible one: worst case
            gc.collect()
            rss0 = rss_mb()
            stop = threading.Event()
            result: dict = {}
            worker = threading.Thread(
                target=lambda: result.update(sent=flood(app.supervisor.emitter, seconds, rate, batch, stop))
            )
            worker.start()
            while worker.is_alive():
                app.painted.clear()
                t0 = time.perf_counter()
                app.post_message(events.Key("f12", None))
                await app.painted.wait()
                latencies.append(time.perf_counter() - t0)
                await asyncio.sleep(0.05)
            worker.join()
            await pilot.pause(0.5)
            gc.collect()
            rss1 = rss_mb()
            steps = app.model.step.current
            job = app.model.jobs["job-flood"]
            kept = len(job.log)
            app.supervisor.interrupt()
        rt.close()
    latencies.sort()
    return {
        "sent": result.get("sent", 0),
        "presses": len(latencies),
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "rss0": rss0,
        "rss1": rss1,
        "steps": steps,
        "kept": kept,
        "received": job.log_total,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--rate", type=int, default=10_000)
    ap.add_argument("--batch", type=int, default=100)
    args = ap.parse_args()
    r = asyncio.run(run(args.seconds, args.rate, args.batch))
    print(
        f"{r['sent']:,} log lines in {args.seconds:g} s ({args.rate:,}/s, {args.batch} per event) "
        f"while the agent ran {r['steps']} steps\n"
    )
    print(f"{'measure':<36} {'value':>10}")
    print(f"{'key-to-frame p50 (ms)':<36} {r['p50']:>10.1f}")
    print(f"{'key-to-frame p99 (ms)':<36} {r['p99']:>10.1f}")
    print(f"{'key presses measured':<36} {r['presses']:>10}")
    print(f"{'RSS before flood (MB)':<36} {r['rss0']:>10.1f}")
    print(f"{'RSS after flood (MB)':<36} {r['rss1']:>10.1f}")
    print(f"{'log lines received / kept in memory':<36} {r['received']:>6,} / {r['kept']:,}")


if __name__ == "__main__":
    main()
