"""Attaching to a running session, measured the way a user feels it: `intern-tui attach ID` runs in a real
pseudo-terminal (pyte reads its screen) against a session process that has N events of history.

    python bench/attach.py [--events 1000,10000,50000]

Each session is generated (tests/generated.py: agent steps with 1–2 KB model output, 4 KB observations,
job logs, metrics, GPU samples), then resumed in its own process (`resume --detach`) on a script policy
whose step sleeps, so it is live while clients attach. Reported: process start → first frame (dashboard
drawn), and → the live step's thought on screen (history folded, then the live stream), then the same with
a second client attached at once. Target: attach with history < 1.5 s.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from generated import build_session  # noqa: E402

from intern_tui.agent.session import Runtime  # noqa: E402


def live_session(home: Path, n: int) -> str:
    rt = Runtime.open(home, mirror=False)
    try:
        sid = rt.store.new_session_id()
        build_session(rt, n, session_id=sid, seed=n, end_status="interrupted")  # resumable
    finally:
        rt.close()
    policy = home / "hold.jsonl"
    policy.write_text(
        json.dumps({"thought": "Holding for the attach bench.", "code": "import time\ntime.sleep(600)"})
        + "\n"
    )
    cmd = [
        sys.executable,
        "-m",
        "intern_tui",
        "--home",
        str(home),
        "resume",
        sid,
        "--detach",
        "--model",
        f"script:{policy}",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise SystemExit(f"could not start the session: {done.stderr.strip()}")
    return sid


def attach_once(home: Path, sid: str) -> tuple[float, float]:
    from terminal import Terminal, intern_tui

    t0 = time.perf_counter()
    with Terminal(intern_tui("--home", str(home), "attach", sid), cols=160, rows=45) as term:
        term.wait_for(lambda s: "╭─ Agent" in s, timeout=60)
        first = time.perf_counter() - t0
        term.wait_for(lambda s: "Holding for the attach bench" in s, timeout=120)
        live = time.perf_counter() - t0
        term.press("q")
        term.wait_for_text("Detach", timeout=30)
        term.press("enter")
        term.wait_exit(30)
    return first, live


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", default="1000,10000,50000")
    args = parser.parse_args()
    rows = []
    for n in [int(x) for x in args.events.split(",")]:
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp)
            sid = live_session(home, n)
            try:
                first, live = attach_once(home, sid)
                again_first, again_live = attach_once(home, sid)  # a second client, the session unchanged
            finally:
                subprocess.run(
                    [sys.executable, "-m", "intern_tui", "--home", str(home), "stop", sid],
                    capture_output=True,
                    timeout=120,
                )
            rows.append((n, first, live, again_first, again_live))
    print(f"{'events':>8} {'first frame':>12} {'with history':>13} {'2nd: first':>11} {'2nd: history':>13}")
    for n, first, live, again_first, again_live in rows:
        print(f"{n:>8,} {first:>11.2f}s {live:>12.2f}s {again_first:>10.2f}s {again_live:>12.2f}s")
    print("target: with history < 1.5 s")


if __name__ == "__main__":
    main()
