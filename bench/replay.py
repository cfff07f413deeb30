"""Replay of long sessions, measured the way a user feels it: `intern-tui replay` runs in a real
pseudo-terminal and a terminal emulator (pyte) reads its screen. Times are from starting the program /
pressing a key to the change being on the emulated screen.

    python bench/replay.py [--events 10000,100000,1000000] [--seeks 30] [--home DIR] [--headless]

Sessions are generated (tests/generated.py: job logs, metrics, GPU samples, agent steps with 1–2 KB model
output and 4 KB observations) through the real emitter and writer, once per --home (reused later).
Reported per size: first frame (timeline and stream drawn), fully loaded, the process's peak RSS, and the
latency of random seeks (`:` `#N` enter) and of step keys (←), p50/p99. `--headless` runs the old
in-process variant (Textual's test harness, no terminal), a fast check of the same code paths.

Targets: first frame < 1 s, 1M loaded < 10 s with RSS < 600 MB, seek p99 < 100 ms at any size.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from generated import build_session  # noqa: E402

from intern_tui.agent.session import Runtime  # noqa: E402


def position(screen: str) -> tuple[int, int] | None:
    found = re.search(r"event (\d+)/(\d+)", screen)
    return (int(found.group(1)), int(found.group(2))) if found else None


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid or 'self'}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def ensure_session(home: Path, n: int) -> str:
    sid = f"bench-{n}"
    rt = Runtime.open(home, mirror=False)
    try:
        conn = rt.store.connect()
        have = conn.execute("SELECT count(*) FROM events WHERE session_id = ?", (sid,)).fetchone()[0]
        conn.close()
        if have != n:
            t = time.perf_counter()
            build_session(rt, n, session_id=sid, seed=n)
            print(f"  (generated {n:,} events in {time.perf_counter() - t:.0f} s)", flush=True)
    finally:
        rt.close()
    return sid


def in_terminal(home: Path, sid: str, n: int, seeks: int) -> dict:
    from terminal import Terminal, intern_tui

    rng = random.Random(n)
    t0 = time.perf_counter()
    with Terminal(intern_tui("--home", str(home), "replay", sid), cols=160, rows=45) as term:
        # the first frame: the timeline (still loading, or done) and the stream's first items
        term.wait_for(lambda s: " REPLAY " in s and "╭─ Agent" in s and "│ " in s, timeout=60)
        first = time.perf_counter() - t0
        term.wait_for(lambda s: position(s) == (n, n) and "session done" in s, timeout=600)
        loaded = time.perf_counter() - t0
        term.settle(0.5)
        rss = peak_rss_mb(term.proc.pid)
        term.press("m")  # the metrics plot on screen: seeks redraw it too
        term.settle(0.5)
        seek_times, settle_times = [], []
        for _ in range(seeks):
            target = rng.randint(1, n)
            term.press(":")
            term.wait_for_text("Seek to a step")
            term.settle(0.2)  # the modal's input has focus once it is drawn
            term.type(f"#{target}")
            term.wait_for_text(f"#{target}")  # the modal's input shows it: now time the seek itself
            term.settle(0.1)
            t = time.perf_counter()
            term.press("enter")
            term.wait_for(lambda s, target=target: (position(s) or (0,))[0] == target, timeout=30)
            seek_times.append(time.perf_counter() - t)
            term.settle(0.15)
            settle_times.append(time.perf_counter() - t - 0.15)
        step_times = []
        for _ in range(seeks):
            before = position(term.text())
            t = time.perf_counter()
            term.press("left" if before[0] > 1 else "end")  # a short session runs out of steps
            term.wait_for(lambda s, before=before: position(s) != before, timeout=30)
            step_times.append(time.perf_counter() - t)
            term.settle(0.1)
        rss = max(rss, peak_rss_mb(term.proc.pid))
    return {
        "first": first,
        "loaded": loaded,
        "rss": rss,
        "seek": seek_times,
        "settled": settle_times,
        "step": step_times,
    }


async def headless(home: Path, sid: str, n: int, seeks: int) -> dict:
    from intern_tui.tui.app import InternApp
    from intern_tui.tui.screens.replay import ReplayScreen

    rt = Runtime.open(home, mirror=False)
    painted = asyncio.Event()
    app = InternApp(rt, replay_id=sid)
    t0 = time.perf_counter()
    async with app.run_test(size=(160, 45)) as pilot:
        while not isinstance(app.screen, ReplayScreen):
            await pilot.pause(0.005)
        app.call_after_refresh(painted.set)
        await painted.wait()
        first = time.perf_counter() - t0
        screen = app.screen
        while screen.loading_total is not None:
            await pilot.pause(0.01)
        loaded = time.perf_counter() - t0
        await pilot.press("m")
        rng = random.Random(n)
        times = []
        for _ in range(seeks):
            painted.clear()
            t = time.perf_counter()
            screen.seek(rng.randint(1, n))
            app.call_after_refresh(painted.set)
            await painted.wait()
            times.append(time.perf_counter() - t)
    rt.close()
    return {
        "first": first,
        "loaded": loaded,
        "rss": peak_rss_mb(0),
        "seek": times,
        "settled": times,
        "step": times,
    }


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))] * 1000 if values else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", default="10000,100000,1000000", help="comma-separated session sizes")
    ap.add_argument("--seeks", type=int, default=30)
    ap.add_argument("--home", type=Path, help="keep generated sessions here (reused by later runs)")
    ap.add_argument("--headless", action="store_true", help="in-process harness instead of a terminal")
    args = ap.parse_args()
    sizes = [int(x) for x in args.events.split(",")]
    tmp = None
    if args.home is None:
        tmp = tempfile.TemporaryDirectory()
        args.home = Path(tmp.name)
    rows = []
    for n in sizes:
        print(f"{n:,} events…", flush=True)
        sid = ensure_session(args.home, n)
        if args.headless:
            r = asyncio.run(headless(args.home, sid, n, args.seeks))
        else:
            r = in_terminal(args.home, sid, n, args.seeks)
        rows.append((n, r))
    where = "headless (Textual test harness)" if args.headless else "real terminal (pty + pyte), 160×45"
    print(f"\nintern-tui replay, {where}; {args.seeks} random seeks and {args.seeks} step keys per size\n")
    print(
        f"{'events':>10} {'first frame s':>13} {'loaded s':>9} {'peak RSS MB':>11} {'seek p50':>9} {'seek p99':>9}"
        f" {'settled p99':>11} {'← p50':>7} {'← p99':>7}  (ms)"
    )
    for n, r in rows:
        print(
            f"{n:>10,} {r['first']:>13.2f} {r['loaded']:>9.2f} {r['rss']:>11.0f} {pct(r['seek'], 0.5):>9.0f}"
            f" {pct(r['seek'], 0.99):>9.0f} {pct(r['settled'], 0.99):>11.0f} {pct(r['step'], 0.5):>7.0f}"
            f" {pct(r['step'], 0.99):>7.0f}"
        )
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
