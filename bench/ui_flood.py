"""UI under load, the way a user feels it: `intern-tui` runs in a real pseudo-terminal (read through the
pyte terminal emulator) with a scripted agent that launches a real local job printing 10k log lines/s
(and a trainer metrics line 4 times a second) while the agent keeps stepping. Times are from writing a
key to the pty to its effect being on the emulated screen.

    python bench/ui_flood.py [--seconds 15] [--rate 10000]             # the real terminal (default)
    python bench/ui_flood.py --headless [--batch 100] [--no-zoom] …     # in-process variant, a fast check

Keys measured: tab switches (`m` / `j`: metrics and jobs panes, taking turns) and opening/closing the
help (`?` / escape), first with the agent waiting for its launch approval (quiet), then during the
flood. Also: the app's RSS before and after. No GPU here: the GPU pane shows its "no GPU" state.

The headless variant (`--headless`) runs the app in Textual's test harness and times a key event to the
end of the next refresh, for a scroll and for a zoom (a full relayout); lines arrive in job_log events
of --batch lines (the job runner batches like this); --batch 1 is the unbatched worst case.
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

FLOOD_SCRIPT = """
import sys, time
rate, seconds = int(sys.argv[1]), float(sys.argv[2])
line = "{'loss': 1.2345, 'grad_norm': 0.81, 'learning_rate': 1.9e-05, 'epoch': 0.42}  12%|#    | 120/1000 [00:42<05:01]"
t0 = time.time(); sent = 0; step = 0
while time.time() - t0 < seconds:
    due = int((time.time() - t0) * rate)
    if due > sent:
        sys.stdout.write("".join(f"log line {sent + i} " + line[:60] + "\\n" for i in range(due - sent)))
        sent = due
    if int((time.time() - t0) * 4) > step:
        step += 1
        sys.stdout.write("{'loss': %.4f, 'learning_rate': 1e-05, 'epoch': %.2f, 'step': %d}\\n" % (2 / step, step / 100, step))
    sys.stdout.flush()
    time.sleep(0.005)
print("flood done", sent)
"""
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


def in_terminal(seconds: float, rate: int, in_process: bool = False) -> dict:
    import json

    from terminal import Terminal, intern_tui

    def rss(pid: int) -> float:
        with open(f"/proc/{pid}/status") as f:
            return next(int(x.split()[1]) / 1024 for x in f if x.startswith("VmRSS:"))

    def right_pane(screen: str) -> str:
        if "╭─ Jobs" in screen:
            return "jobs"
        return "metrics" if "Metrics  GPU  Files  Jobs" in screen else "?"

    with tempfile.TemporaryDirectory() as tmp:
        turns = [
            {"thought": "Write the job.", "code": f"print(write_file('flood.py', {FLOOD_SCRIPT!r}))"},
            {
                "thought": "Launch it.",
                "code": f"job = launch_job('flood.py', args=['{rate}', '{seconds}'])\nprint(job)",
            },
        ] + [
            {
                "thought": f"Step {i}: watch the run.",
                "code": "import time\ntime.sleep(0.5)\nprint(job_status(job))",
            }
            for i in range(200)
        ]
        policy = Path(tmp) / "policy.jsonl"
        policy.write_text("".join(json.dumps(t) + "\n" for t in turns))
        mode = ["--in-process"] if in_process else []  # default: the session in its own process
        argv = intern_tui(
            "--home", str(Path(tmp) / "home"), *mode, "--model", f"script:{policy}", "flood the log"
        )
        out: dict = {"quiet": {}, "flood": {}}
        try:
            measured = _measure_in(Terminal(argv, cols=160, rows=45), seconds, out, rss, right_pane)
        finally:
            stop_sessions(Path(tmp) / "home")  # started in its own process, it outlives the terminal
        return measured


def stop_sessions(home: Path) -> None:
    """Stop every session still running in its own process under `home` (what the bench started)."""
    import subprocess

    from intern_tui.host import live_host

    for path in (home / "run").glob("*.host.json"):
        session_id = path.name.split(".")[0]
        if live_host(home, session_id) is not None:
            subprocess.run(
                [sys.executable, "-m", "intern_tui", "--home", str(home), "stop", session_id],
                capture_output=True,
                timeout=120,
            )


def _measure_in(terminal, seconds: float, out: dict, rss, right_pane) -> dict:
    """Quiet, then during the flood: tab switches and the help, key to changed screen."""
    with terminal as term:
        term.wait_for_text("WAITING FOR APPROVAL", timeout=120)
        term.settle(0.5)
        rss0 = rss(term.proc.pid)

        def measure(phase: str, until_s: float | None, presses: int) -> None:
            times: dict[str, list[float]] = {"tab": [], "help": []}
            deadline = None if until_s is None else time.perf_counter() + until_s
            i = 0
            while (deadline is None and i < presses) or (
                deadline is not None and time.perf_counter() < deadline
            ):
                key, want = ("m", "metrics") if right_pane(term.text()) == "jobs" else ("j", "jobs")
                times["tab"].append(term.key_to_screen(key, lambda s, want=want: right_pane(s) == want))
                term.pump(0.05)
                if i % 3 == 2:
                    times["help"].append(term.key_to_screen("?", lambda s: "Keys (remap" in s))
                    times["help"].append(term.key_to_screen("escape", lambda s: "Keys (remap" not in s))
                    term.pump(0.05)
                i += 1
            out[phase] = times

        measure("quiet", None, 20)
        term.press("a")  # approve the launch: the flood starts
        term.press("j")
        term.wait_for(lambda s: "log line" in s, timeout=60)
        measure("flood", seconds * 0.8, 0)
        out["rss"] = (rss0, rss(term.proc.pid))
        out["lines_seen"] = term.text().count("log line")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--rate", type=int, default=10_000)
    ap.add_argument("--headless", action="store_true", help="the in-process variant (Textual test harness)")
    ap.add_argument("--modes", default="own,in-process", help="real terminal: own, in-process or both")
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--pane", choices=["jobs", "metrics", "gpu", "files"], default="jobs")
    ap.add_argument("--no-zoom", action="store_true", help="headless: only the light key (no relayouts)")
    args = ap.parse_args()
    if not args.headless:
        modes = [m.strip() for m in args.modes.split(",") if m.strip()]
        results = {
            mode: in_terminal(args.seconds, args.rate, in_process=mode == "in-process") for mode in modes
        }
        print(
            f"intern-tui in a real terminal (pty + pyte, 160×45); a local job printing {args.rate:,} lines/s for "
            f"{args.seconds:g} s plus 4 metric lines/s, the agent stepping every 0.5 s; `own`: the session in "
            "its own process (the default), `in-process`: inside the TUI's process (--in-process)\n"
        )
        print(f"{'mode':<11} {'phase':<8} {'key':<22} {'n':>4} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
        for mode, r in results.items():
            for phase in ("quiet", "flood"):
                for key, label in (("tab", "tab switch (m / j)"), ("help", "help open / close")):
                    values = r[phase][key]
                    print(
                        f"{mode:<11} {phase:<8} {label:<22} {len(values):>4} {pct(values, 0.5):>8.0f} "
                        f"{pct(values, 0.99):>8.0f} {max(values) * 1000 if values else float('nan'):>8.0f}"
                    )
        for mode, r in results.items():
            print(
                f"RSS of the TUI ({mode}): {r['rss'][0]:.0f} MB before the flood, {r['rss'][1]:.0f} MB during it"
            )
        return
    r = asyncio.run(run(args.seconds, args.rate, args.batch, args.pane))
    print(
        f"{r['sent']:,} log lines in {args.seconds:g} s ({args.rate:,}/s, {args.batch} per event), "
        f"{args.pane} pane visible, while the agent ran {r['steps']} steps (headless harness)\n"
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
