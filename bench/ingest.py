"""Ingest throughput through the full spine, next to a raw `sqlite3.executemany` of the same rows into the
same schema, in the same run.

    python bench/ingest.py [--events 200000] [--producers 4]

One session, `--producers` threads emitting into its one Emitter (so they contend for its lock as a
running agent, job watchers and the GPU sampler do), a realistic payload mix (tests/generated.py: job log
chunks, metrics, GPU samples, agent steps with 1–2 KB model output and 4 KB observations). The pipeline
is Emitter.emit (JSON encoding, redaction, seq, publish) → EventBus → StoreWriter (batched transactions,
projections) → SQLite, timed until the last event is committed. Raw is one executemany in one
transaction of the rows the pipeline stored (already serialised and redacted): the floor. Also printed:
what JSON encoding and redaction cost on their own, single-threaded, over the same payloads.

Prints a table. Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from generated import session_events  # noqa: E402

from intern_tui.bus import Emitter, EventBus  # noqa: E402
from intern_tui.events import dumps  # noqa: E402
from intern_tui.redact import Redactor  # noqa: E402
from intern_tui.store import StoreWriter, open_store  # noqa: E402


def bench_pipeline(events, producers: int, tmp: Path) -> tuple[float, list[tuple]]:
    store = open_store(tmp / "pipeline")
    bus = EventBus()
    writer = StoreWriter(store.connect, bus)
    writer.start()
    emitter = Emitter(bus, "bench-ingest", redactor=Redactor())
    chunks = [events[i::producers] for i in range(producers)]
    start = threading.Barrier(producers + 1)

    def produce(chunk) -> None:
        emit = emitter.emit
        start.wait()
        for kind, step, payload in chunk:
            emit(kind, payload, step=step)

    threads = [threading.Thread(target=produce, args=(chunk,)) for chunk in chunks]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    writer.flush(timeout=None)
    elapsed = time.perf_counter() - t0
    writer.stop()
    conn = store.connect()
    rows = conn.execute("SELECT session_id, seq, ts, kind, step, payload FROM events ORDER BY seq").fetchall()
    conn.close()
    return elapsed, rows


def bench_raw(rows: list[tuple], tmp: Path) -> float:
    store = open_store(tmp / "raw")
    conn = store.connect()
    t0 = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", rows)
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - t0
    assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == len(rows)
    conn.close()
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--producers", type=int, default=4)
    args = ap.parse_args()
    events = list(session_events(args.events, seed=1))
    encoded = [dumps(p) for _, _, p in events]
    avg = sum(len(x) for x in encoded) / len(encoded)
    t = time.perf_counter()
    for _, _, p in events:
        dumps(p)
    encode_s = time.perf_counter() - t
    redactor = Redactor()
    t = time.perf_counter()
    for text in encoded:
        redactor.sub(text)
    redact_s = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        pipe_s, rows = bench_pipeline(events, args.producers, Path(tmp))
        assert len(rows) == len(events) and [r[1] for r in rows] == list(range(1, len(events) + 1))
        raw_s = bench_raw(rows, Path(tmp))
    n = len(events)
    print(f"{n:,} events of one session, mean payload {avg:.0f} B, {args.producers} producer threads\n")
    print(f"{'path':<58} {'seconds':>8} {'events/s':>11} {'vs raw':>7}")
    for label, seconds in [
        ("raw sqlite3.executemany of the stored rows (the floor)", raw_s),
        ("emit → bus → writer → SQLite (encode, redact, seq, projections)", pipe_s),
    ]:
        print(f"{label:<58} {seconds:>8.2f} {n / seconds:>11,.0f} {raw_s / seconds:>7.0%}")
    print(
        f"\nof which, measured alone (one thread): JSON encoding {encode_s:.2f} s, redaction {redact_s:.2f} s"
    )


if __name__ == "__main__":
    main()
