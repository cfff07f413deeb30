"""Replay speed on a 100k-event session (steps, job logs, metrics, GPU samples, file versions): time to the
first frame of `intern-tui replay` and seek latency, next to the naive alternative — load the whole
session from one JSON file and rebuild the state up to the chosen point on every seek.

    python bench/replay.py [--events 100000] [--seeks 40]

Targets: first frame < 1 s, seek p99 < 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

from intern_tui.agent.session import Runtime
from intern_tui.bus import Emitter
from intern_tui.events import Event
from intern_tui.tui.app import InternApp
from intern_tui.tui.screens.replay import ReplayScreen
from intern_tui.tui.state import SessionModel

THOUGHT = "The reward std is shrinking; check whether the reward saturates before changing beta. " * 4
CODE = "m = job_metrics(job)\nprint(m['latest']['reward'], m['trend']['reward'])\n"
LOG = "{'loss': 0.41, 'reward': 0.62, 'reward_std': 0.18, 'kl': 0.003, 'epoch': 0.37}  37%|███▋  | 370/1000"


def build_session(rt: Runtime, n: int, seed: int = 0) -> str:
    """Emit a realistic session through the real emitter and writer."""
    rng = random.Random(seed)
    em = Emitter(rt.bus, "bench-replay")
    em.emit("session_started", {"task": "GRPO a tiny model", "model": "script:bench.jsonl", "max_steps": 300})
    em.emit("task", {"task": "GRPO a tiny model"})
    step, metric_step, version = 0, 0, 0
    em.emit("job_started", {"job_id": "job-1", "backend": "local", "script": "train_grpo.py"})
    while em.last_seq < n - 1:
        r = rng.random()
        if r < 0.02:
            step += 1
            em.step = step
            em.emit("step_started", {"step": step, "max_steps": 300})
            em.emit("model_output", {"text": THOUGHT, "thought": THOUGHT})
            em.emit("code_action", {"code": CODE})
            em.emit("observation", {"text": "0.62 {'first': 0.1, 'max': 0.7}", "error": None})
            if step % 10 == 0:
                version += 1
                content = "".join(f"lr = {i}e-5\n" for i in range(version * 5))
                em.emit(
                    "file_written",
                    {
                        "path": "train_grpo.py",
                        "version": version,
                        "content": content,
                        "diff": "",
                        "added": 5,
                        "removed": 0,
                        "bytes": len(content),
                    },
                )
        elif r < 0.65:
            em.emit("job_log", {"job_id": "job-1", "lines": [LOG] * rng.randint(1, 8), "offset": 0})
        elif r < 0.85:
            metric_step += 1
            em.emit(
                "job_metric",
                {
                    "job_id": "job-1",
                    "step": metric_step,
                    "values": {"loss": rng.random(), "reward": rng.random(), "kl": rng.random() / 100},
                },
            )
        else:
            em.emit(
                "gpu_sample",
                {
                    "state": "ok",
                    "gpus": [
                        {
                            "index": 0,
                            "name": "H100",
                            "util_gpu": rng.randint(0, 100),
                            "mem_used": 4e10,
                            "mem_total": 8e10,
                            "processes": [],
                        }
                    ],
                },
            )
    em.emit("session_ended", {"status": "done"})
    rt.writer.flush(timeout=None)
    return em.session_id


async def replay_timings(
    rt: Runtime, session_id: str, seeks: int, pane: str
) -> tuple[float, float, list[float], int]:
    painted = asyncio.Event()
    app = InternApp(rt, replay_id=session_id)
    t0 = time.perf_counter()
    async with app.run_test(size=(160, 45)) as pilot:
        while not isinstance(app.screen, ReplayScreen):
            await pilot.pause(0.005)
        app.call_after_refresh(painted.set)
        await painted.wait()
        first_frame = time.perf_counter() - t0
        screen = app.screen
        while screen.loading is not None:  # the rest streams in behind the first frame
            await pilot.pause(0.01)
        loaded = time.perf_counter() - t0
        await pilot.press(pane[0])  # m: the metrics plot is on screen, so seeks redraw it too
        rng = random.Random(1)
        times = []
        for _ in range(seeks):
            target = rng.randint(1, screen.model.last_seq)
            painted.clear()
            t = time.perf_counter()
            screen.seek(target)
            app.call_after_refresh(painted.set)
            await painted.wait()
            times.append(time.perf_counter() - t)
        total = screen.model.last_seq
    return first_frame, loaded, times, total


def naive(rt: Runtime, session_id: str, seeks: int, tmp: Path) -> tuple[float, list[float]]:
    """One JSON file holding the session; every seek re-reduces the state from the first event."""
    conn = rt.store.connect()
    rows = conn.execute(
        "SELECT session_id, seq, ts, kind, step, payload FROM events WHERE session_id=? ORDER BY seq",
        (session_id,),
    ).fetchall()
    path = tmp / "session.json"
    path.write_text(
        json.dumps(
            [
                {
                    "session_id": r[0],
                    "seq": r[1],
                    "ts": r[2],
                    "kind": r[3],
                    "step": r[4],
                    "payload": json.loads(r[5]),
                }
                for r in rows
            ]
        )
    )
    t0 = time.perf_counter()
    data = json.loads(path.read_text())
    events = [Event(d["session_id"], d["seq"], d["ts"], d["kind"], d["step"], d["payload"]) for d in data]
    model = SessionModel(live=False)
    model.apply_all(events)
    first = time.perf_counter() - t0
    rng = random.Random(1)
    times = []
    for _ in range(seeks):
        target = rng.randint(1, len(events))
        t = time.perf_counter()
        m = SessionModel(live=False)
        m.apply_all(events[:target])
        times.append(time.perf_counter() - t)
    return first, times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--seeks", type=int, default=40)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rt = Runtime.open(Path(tmp) / "home")
        sid = build_session(rt, args.events)
        results = {
            pane: asyncio.run(replay_timings(rt, sid, args.seeks, pane)) for pane in ("files", "metrics")
        }
        _, _, _, total = results["files"]
        naive_first, naive_seeks = naive(rt, sid, max(5, args.seeks // 4), Path(tmp))
        rt.close()

    def p99(values: list[float]) -> float:
        return sorted(values)[min(len(values) - 1, int(len(values) * 0.99))]

    print(f"{total:,} events; {args.seeks} random seeks (to the frame on screen)\n")
    print(
        f"{'replay path':<46} {'first frame s':>13} {'all loaded s':>12} {'seek p50 ms':>12} {'seek p99 ms':>12}"
    )
    for pane, (frame, loaded, seeks, _) in results.items():
        label = f"intern-tui replay, {pane} pane visible"
        print(
            f"{label:<46} {frame:>13.2f} {loaded:>12.2f} {statistics.median(seeks) * 1000:>12.1f} "
            f"{p99(seeks) * 1000:>12.1f}"
        )
    print(
        f"{'naive: one JSON file, re-reduce on each seek':<46} {naive_first:>13.2f} {naive_first:>12.2f} "
        f"{statistics.median(naive_seeks) * 1000:>12.1f} {p99(naive_seeks) * 1000:>12.1f}"
    )


if __name__ == "__main__":
    main()
