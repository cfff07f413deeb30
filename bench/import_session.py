"""`intern-tui sessions import` of a long exported session: time and the importing process's peak RSS.

    python bench/import_session.py [--events 1000000] [--home DIR]

The session is generated (tests/generated.py) into --home (reused when it is already there), exported
with `sessions export --format events`, then imported into a fresh home by the real CLI in a child
process. Target: a 1M-event file imports in < 1 GB RSS (the import streams in batches).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from replay import ensure_session  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--home", type=Path, help="where the generated session is kept (reused)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = args.home or Path(tmp) / "source"
        sid = ensure_session(home, args.events)
        exported = Path(tmp) / "session.jsonl"
        cli = [sys.executable, "-m", "intern_tui"]
        subprocess.run(
            [*cli, "--home", str(home), "sessions", "export", sid, "--format", "events", "-o", str(exported)],
            check=True,
        )
        size = exported.stat().st_size
        t = time.perf_counter()
        subprocess.run(
            [
                *cli,
                "--home",
                str(Path(tmp) / "target"),
                "sessions",
                "import",
                "--max-size",
                "8G",
                str(exported),
            ],
            check=True,
        )
        seconds = time.perf_counter() - t
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the largest child: the import
    print(f"\n{'events':>10} {'file MB':>8} {'import s':>9} {'peak RSS MB':>12}")
    print(f"{args.events:>10,} {size / 1e6:>8.0f} {seconds:>9.1f} {peak:>12.0f}")


if __name__ == "__main__":
    main()
