"""UI under load: the app runs headless while a job floods 10k log lines/s for 10 s and the agent keeps
stepping. Reports key-to-frame latency (p50/p99) and memory growth.

    python bench/ui_flood.py [--seconds 10] [--rate 10000] [--batch 100] [--pane jobs|metrics|gpu|files]

Key-to-frame: from posting a key event to the end of the first screen refresh after its action ran; for a
typical key (scroll the visible pane) and for the heaviest one (zoom: every pane is laid out again). Lines
arrive in job_log events of --batch lines (the job runner batches like this); --batch 1 is the unbatched
worst case.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import resource
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

ZOOM = "--no-zoom" not in sys.argv
LINE = "{'loss': 1.2345, 'grad_norm': 0.81, 'learning_rate': 1.9e-05, 'epoch': 0.42}  12%|█▏   | 120/1000 [00:42<05:01]"


class ProbedApp(InternApp):
    """The real app plus two keys that report when their effect is on screen: f11 scrolls the agent stream
    one line (a typical keypress), f12 toggles the zoom (a full relayout)."""

    BINDINGS = [
        *InternApp.BINDINGS,
        Binding("f11", "probe('scroll')", "probe", id="probe_light"),
        Binding("f12", "probe('zoom')", "probe", id="probe_heavy"),
    ]

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.painted = asyncio.Event()

    def action_probe(self, kind: str) -> None:
        if kind == "zoom":
            self.action_zoom()
        else:
            self.dashboard.query_one("#stream").scroll_relative(y=-1, animate=False)
        self.call_after_refresh(self.painted.set)


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 1e6


def flood(emitter, seconds: float, rate: int, batch: int) -> int:
    emitter.emit("job_started", {"job_id": "job-flood", "backend": "local", "script": "train.py"})
    sent, step, t0 = 0, 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        due = int((time.perf_counter() - t0) * rate)
        while sent < due:
            emitter.emit(
                "job_log", {"job_id": "job-flood", "lines": [f"{LINE} #{sent + i}" for i in range(batch)]}
            )
            sent += batch
        if int((time.perf_counter() - t0) * 4) > step:  # 4 metric points per second, like a busy trainer
            step += 1
            emitter.emit(
                "job_metric", {"job_id": "job-flood", "step": step, "values": {"loss": 2 / step, "lr": 1e-5}}
            )
        time.sleep(0.002)
    emitter.emit("job_finished", {"job_id": "job-flood", "status": "completed", "exit_code": 0})
    return sent


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))] * 1000 if values else float("nan")


async def run(seconds: float, rate: int, batch: int, pane: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        turns = [
            (f"Step {i}: check the run.", "import time\ntime.sleep(0.5)\nprint('ok')") for i in range(100)
        ]
        model = write_policy(Path(tmp) / "p.jsonl", turns)
        rt = Runtime.open(Path(tmp) / "home")
        app = ProbedApp(rt, options=SessionOptions(task="flood", model=model, max_steps=200))
        latencies: dict[str, list[float]] = {"f11": [], "f12": []}
        async with app.run_test(size=(160, 45)) as pilot:
            while app.supervisor is None:
                await pilot.pause(0.05)
            await pilot.press(pane[0])  # j / m / g / f: the pane that stays visible beside the stream
            gc.collect()
            rss0 = rss_mb()
            result: dict = {}
            worker = threading.Thread(
                target=lambda: result.update(sent=flood(app.supervisor.emitter, seconds, rate, batch))
            )
            worker.start()
            presses = 0
            while worker.is_alive():
                key = "f12" if (presses % 4 == 3 and ZOOM) else "f11"
                presses += 1
                app.painted.clear()
                t0 = time.perf_counter()
                app.post_message(events.Key(key, None))
                await app.painted.wait()
                latencies[key].append(time.perf_counter() - t0)
                await asyncio.sleep(0.05)
            worker.join()
            await pilot.pause(0.5)
            gc.collect()
            rss1 = rss_mb()
            steps = app.model.step.current
            job = app.model.jobs["job-flood"]
            app.supervisor.interrupt()
        rt.close()
    light, heavy = latencies["f11"], latencies["f12"]
    return {
        "sent": result.get("sent", 0),
        "presses": len(light) + len(heavy),
        "steps": steps,
        "p50": pct(light, 0.5),
        "p99": pct(light, 0.99),
        "heavy_p50": pct(heavy, 0.5),
        "heavy_p99": pct(heavy, 0.99),
        "rss0": rss0,
        "rss1": rss1,
        "kept": len(job.log),
        "received": job.log_total,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--rate", type=int, default=10_000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--pane", choices=["jobs", "metrics", "gpu", "files"], default="jobs")
    ap.add_argument("--no-zoom", action="store_true", help="only the light key (no relayouts in between)")
    args = ap.parse_args()
    r = asyncio.run(run(args.seconds, args.rate, args.batch, args.pane))
    print(
        f"{r['sent']:,} log lines in {args.seconds:g} s ({args.rate:,}/s, {args.batch} per event), "
        f"{args.pane} pane visible, while the agent ran {r['steps']} steps\n"
    )
    print(f"{'measure':<40} {'value':>10}")
    print(f"{'key-to-frame p50 (ms), scroll':<40} {r['p50']:>10.1f}")
    print(f"{'key-to-frame p99 (ms), scroll':<40} {r['p99']:>10.1f}")
    print(f"{'key-to-frame p50 (ms), zoom relayout':<40} {r['heavy_p50']:>10.1f}")
    print(f"{'key-to-frame p99 (ms), zoom relayout':<40} {r['heavy_p99']:>10.1f}")
    print(f"{'key presses measured':<40} {r['presses']:>10}")
    print(f"{'RSS before flood (MB)':<40} {r['rss0']:>10.1f}")
    print(f"{'RSS after flood (MB)':<40} {r['rss1']:>10.1f}")
    print(f"{'log lines received / kept in memory':<40} {r['received']:>6,} / {r['kept']:,}")


if __name__ == "__main__":
    main()
