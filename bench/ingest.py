"""Ingest throughput: events/s persisted through Emitter → EventBus → StoreWriter → SQLite, next to a raw
`sqlite3.executemany` of the same rows into the same schema, in the same run.

    python bench/ingest.py [--events 200000] [--producers 4]

Prints a table. Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import threading
import time
from pathlib import Path

from intern_tui.bus import Emitter, EventBus
from intern_tui.events import dumps
from intern_tui.redact import Redactor
from intern_tui.store import StoreWriter, open_store

LOG_LINE = (
    "{'loss': 1.2345, 'grad_norm': 0.8123, 'learning_rate': 1.9e-05, 'epoch': 0.42}  12%|█▏        | 120/1000"
)


def realistic_events(n: int, seed: int = 0) -> list[tuple[str, int | None, dict]]:
    """A post-training session's mix: mostly job logs and metrics, GPU samples, and agent steps."""
    rng = random.Random(seed)
    out: list[tuple[str, int | None, dict]] = []
    step = 0
    for i in range(n):
        r = rng.random()
        if r < 0.60:
            out.append(
                (
                    "job_log",
                    step,
                    {"job_id": "job-1", "stream": "stdout", "line": LOG_LINE[: rng.randint(40, 120)]},
                )
            )
        elif r < 0.80:
            out.append(
                (
                    "job_metric",
                    step,
                    {
                        "job_id": "job-1",
                        "step": i,
                        "values": {
                            "loss": rng.random(),
                            "reward": rng.random(),
                            "kl": rng.random() / 10,
                            "learning_rate": 2e-5,
                        },
                    },
                )
            )
        elif r < 0.95:
            out.append(
                (
                    "gpu_sample",
                    None,
                    {
                        "gpus": [
                            {
                                "index": 0,
                                "util": rng.randint(0, 100),
                                "mem_used": 41_000_000_000,
                                "mem_total": 81_559_000_000,
                                "power": 512.3,
                                "temp": 61,
                            }
                        ]
                    },
                )
            )
        else:
            step += 1
            kind = rng.choice(["model_output", "code_action", "observation"])
            out.append((kind, step, {"text": "Thinking about the reward curve. " * rng.randint(5, 40)}))
    return out


def bench_pipeline(events, producers: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(Path(tmp))
        bus = EventBus()
        writer = StoreWriter(store.connect, bus)
        writer.start()
        emitters = [Emitter(bus, f"bench-{i}", redactor=Redactor()) for i in range(producers)]
        chunks = [events[i::producers] for i in range(producers)]
        t0 = time.perf_counter()
        threads = [
            threading.Thread(target=lambda em=em, ch=ch: [em.emit(k, p, step=s) for k, s, p in ch])
            for em, ch in zip(emitters, chunks, strict=True)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        writer.flush(timeout=None)
        elapsed = time.perf_counter() - t0
        count = store.connect().execute("SELECT count(*) FROM events").fetchone()[0]
        writer.stop()
        return elapsed, count


def bench_raw(events, serialise: bool) -> tuple[float, int]:
    """The floor: one executemany, one transaction, same schema and indexes. With `serialise`, the
    payloads are JSON-encoded inside the timed part, as any writer of these events has to."""
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(Path(tmp))
        conn = store.connect()
        if not serialise:
            rows = [("raw", i + 1, time.time(), k, s, dumps(p)) for i, (k, s, p) in enumerate(events)]
        t0 = time.perf_counter()
        if serialise:
            rows = [("raw", i + 1, time.time(), k, s, dumps(p)) for i, (k, s, p) in enumerate(events)]
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", rows)
        conn.execute("COMMIT")
        elapsed = time.perf_counter() - t0
        return elapsed, conn.execute("SELECT count(*) FROM events").fetchone()[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--producers", type=int, default=4)
    args = ap.parse_args()
    events = realistic_events(args.events)
    avg = sum(len(dumps(p)) for _, _, p in events) / len(events)
    raw_s, raw_n = bench_raw(events, serialise=False)
    ser_s, ser_n = bench_raw(events, serialise=True)
    pipe_s, pipe_n = bench_pipeline(events, args.producers)
    assert raw_n == ser_n == pipe_n == len(events)
    raw_rate = raw_n / raw_s
    print(f"{len(events):,} events, mean payload {avg:.0f} B, {args.producers} producer threads\n")
    print(f"{'path':<48} {'seconds':>8} {'events/s':>12} {'vs raw':>7}")
    for label, seconds in [
        ("raw sqlite3.executemany, pre-serialised rows", raw_s),
        ("raw sqlite3.executemany + json.dumps", ser_s),
        ("emit → bus → writer (redact, seq, projections)", pipe_s),
    ]:
        rate = len(events) / seconds
        print(f"{label:<48} {seconds:>8.2f} {rate:>12,.0f} {rate / raw_rate:>7.0%}")


if __name__ == "__main__":
    main()
