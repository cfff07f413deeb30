"""A writer process killed with SIGKILL leaves a sound database holding a gap-free prefix of its events,
including every event it had acknowledged as flushed."""

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

from intern_tui.store import open_store

CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from intern_tui.bus import EventBus, Emitter
    from intern_tui.store import StoreWriter, open_store

    store = open_store(Path(sys.argv[1]))
    bus = EventBus()
    writer = StoreWriter(store.connect, bus)
    writer.start()
    lock = store.lock_session("crashy")
    assert lock.try_acquire()  # held for as long as this process lives, like a real session
    em = Emitter(bus, "crashy")
    em.emit("session_started", {"task": "write until killed"})
    i = 0
    while True:
        i += 1
        em.emit("job_log", {"line": "x" * 150 + str(i)})
        if i % 200 == 0:
            writer.flush()
            print(f"flushed {em.last_seq}", flush=True)
    """
)


def test_sigkill_mid_write_loses_at_most_the_unflushed_tail(home):
    open_store(home)
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(home)], stdout=subprocess.PIPE, text=True)
    acknowledged = 0
    try:
        for line in proc.stdout:
            acknowledged = int(line.split()[1])
            if acknowledged >= 6000:
                break
        # while the writer lives, its session is not mistaken for a dead one
        assert open_store(home).recover_dead_sessions() == []
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    conn = sqlite3.connect(home / "sessions.db")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    seqs = [r[0] for r in conn.execute("SELECT seq FROM events WHERE session_id='crashy' ORDER BY seq")]
    assert seqs == list(range(1, len(seqs) + 1)), "surviving events must be a gap-free prefix"
    assert len(seqs) >= acknowledged, "an event acknowledged as flushed was lost"
    # The child kept emitting after its last acknowledgement; what it lost is at most the batch in flight.
    conn.close()
    # The next start sees the session's process is gone and marks it interrupted.
    store = open_store(home)
    assert store.recover_dead_sessions() == ["crashy"]
    status = store.connect().execute("SELECT status FROM sessions WHERE id='crashy'").fetchone()[0]
    assert status == "interrupted"
