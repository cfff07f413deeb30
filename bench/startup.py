"""Startup: `intern-tui --help` wall time and time to the TUI's first frame (process start → first frame
painted, interpreter start-up included), median of N runs. Targets: 0.3 s and 1.5 s.

    python bench/startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time

FIRST_FRAME = """
import time
T0 = time.perf_counter()
import sys
from pathlib import Path
from intern_tui.agent.session import Runtime
from intern_tui.tui.app import InternApp

class FirstFrame(InternApp):
    def on_mount(self):
        super().on_mount()
        self.call_after_refresh(self.painted)

    def painted(self):
        print(f"{time.perf_counter() - T0:.4f}")
        self.exit()

rt = Runtime.open(Path(sys.argv[1]))
FirstFrame(rt).run(headless=True, size=(120, 40))
rt.close()
"""


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t0


def first_frame(home: str) -> tuple[float, float]:
    """(seconds from the script's first line to the first painted frame, whole process wall time)."""
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", FIRST_FRAME, home], check=True, capture_output=True, text=True
    )
    return float(out.stdout.split()[-1]), time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    runs = ap.parse_args().runs
    with tempfile.TemporaryDirectory() as home:
        timed([sys.executable, "-c", FIRST_FRAME, home])  # creates the database once, warms the file cache
        help_s = [timed([sys.executable, "-m", "intern_tui", "--help"]) for _ in range(runs)]
        frames = [first_frame(home) for _ in range(runs)]
        frame_s = [f for f, _ in frames]
        wall_s = [w for _, w in frames]
    print(f"median of {runs} runs\n")
    print(f"{'measure':<34} {'median s':>9} {'max s':>7} {'target':>7}")
    print(f"{'intern-tui --help':<34} {statistics.median(help_s):>9.3f} {max(help_s):>7.3f} {'0.3':>7}")
    print(
        f"{'first frame (new-session screen)':<34} {statistics.median(frame_s):>9.3f} {max(frame_s):>7.3f} {'1.5':>7}"
    )
    print(
        f"{'  process wall incl. start and exit':<34} {statistics.median(wall_s):>9.3f} {max(wall_s):>7.3f}"
    )


if __name__ == "__main__":
    main()
