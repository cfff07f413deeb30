"""How long the mirror takes to plan and push a big session (fake Hub on local disk, real SQLite).

    python bench/mirror_bench.py [EVENTS]

Prints a table: time to write the events, to plan the shards, to build and "upload" everything, and the
bytes sent. The fake Hub only writes files, so this measures the mirror's own work (reading, trace
building, scrubbing), not the network.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from mirror_fakes import FakeHub  # noqa: E402

from intern_tui.bus import Emitter, EventBus  # noqa: E402
from intern_tui.mirror import Mirror, MirrorSettings  # noqa: E402
from intern_tui.store import StoreWriter, open_store  # noqa: E402


def main(total: int) -> None:
    tmp = Path(tempfile.mkdtemp())
    store = open_store(tmp / "home")
    bus = EventBus()
    writer = StoreWriter(store.connect, bus)
    writer.start()
    em = Emitter(bus, "big")
    t0 = time.perf_counter()
    em.emit("session_started", {"task": "bench", "model": "m"})
    em.emit("task", {"task": "bench"})
    step = 0
    while em.last_seq < total:
        step += 1
        em.emit("model_output", {"text": "t" * 400, "thought": "thinking " * 20}, step=step)
        em.emit("code_action", {"code": "print(1)\n" * 20, "call_id": f"c{step}"}, step=step)
        for i in range(95):
            em.emit("job_log", {"job_id": "j", "line": f"{{'loss': {i / 100}, 'grad_norm': 0.5}}"})
        em.emit("observation", {"text": "o" * 1000}, step=step)
    em.emit("session_ended", {"status": "done"})
    writer.flush()
    writer.stop()
    wrote = time.perf_counter() - t0
    hub = FakeHub(tmp / "hub")
    mirror = Mirror(store, MirrorSettings(), api=hub)
    t1 = time.perf_counter()
    report = mirror.push()
    pushed = time.perf_counter() - t1
    assert report.error is None, report.error
    sent = sum(len(b) for b in hub.uploaded_bytes())
    files = hub.files("alice/intern-tui-sessions")
    trace = len(files["sessions/big/trace.jsonl"])
    print(
        f"{'events':>10} {'steps':>6} {'write s':>8} {'push s':>8} {'commits':>8} {'MB sent':>8} {'trace MB':>9}"
    )
    print(
        f"{em.last_seq:>10} {step:>6} {wrote:>8.2f} {pushed:>8.2f} {len(hub.commits()):>8} "
        f"{sent / 1e6:>8.1f} {trace / 1e6:>9.2f}"
    )
    # an incremental heartbeat after a few more events
    store2 = open_store(tmp / "home")
    bus2 = EventBus()
    writer2 = StoreWriter(store2.connect, bus2)
    writer2.start()
    em2 = Emitter(bus2, "big", next_seq=em.last_seq + 1)
    for i in range(100):
        em2.emit("job_log", {"job_id": "j", "line": f"late {i}"})
    writer2.flush()
    writer2.stop()
    t2 = time.perf_counter()
    mirror.sync_once()
    print(f"incremental heartbeat (+100 events): {time.perf_counter() - t2:.2f} s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
