"""Resume after the process was killed: memory rebuilt from events, numbering continues, nothing lost."""

import os
import signal
import sqlite3
import subprocess
import sys

from helpers import wait_for, write_policy

from intern_tui.agent.session import Runtime, resume_session
from intern_tui.store.queries import iter_events


def test_resume_after_sigkill_continues_without_lost_or_duplicated_steps(home, tmp_path):
    model = write_policy(
        tmp_path / "p.jsonl",
        [
            ("Write a file.", "print(write_file('notes.md', 'step one'))"),
            ("Remember a number.", "print('the answer is 42')"),
            ("Wait for a long job.", "import time\ntime.sleep(120)"),
            ("Carry on after the restart.", "print(read_file('notes.md'))"),
            ("Done.", "final_answer('resumed and finished')"),
        ],
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "intern_tui",
            "--home",
            str(home),
            "run",
            "--headless",
            "--model",
            model,
            "long task",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        db = home / "sessions.db"

        def in_step_3():
            if not db.exists():
                return None
            try:
                conn = sqlite3.connect(db)
                row = conn.execute(
                    "SELECT session_id FROM events WHERE kind='code_action' AND step=3"
                ).fetchone()
                conn.close()
                return row and row[0]
            except sqlite3.Error:
                return None

        sid = wait_for(in_step_3, timeout=60)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()

    rt = Runtime.open(home)  # startup recovery marks the dead session interrupted
    try:
        conn = rt.store.connect()
        assert conn.execute("SELECT status FROM sessions WHERE id=?", (sid,)).fetchone()[0] == "interrupted"
        before = list(iter_events(conn, sid))
        sup = resume_session(rt, sid, approve="none")
        assert sup.wait(60) and sup.status == "done", sup.error
        rt.writer.flush()
        after = list(iter_events(conn, sid))
    finally:
        rt.close()

    assert [e.seq for e in after] == list(range(1, len(after) + 1))
    assert after[: len(before)] == before
    observed = [e.step for e in after if e.kind == "observation"]
    assert observed == [1, 2, 4, 5]  # step 3 died mid-way; it is neither redone nor counted twice
    assert [e.step for e in after if e.kind == "model_output"] == [1, 2, 3, 4, 5]
    first_call = " ".join(str(m.content) for m in sup.agent.model.inner.seen_messages[0])
    assert "the answer is 42" in first_call  # step 2's observation is back in memory
    assert "stopped before this step's result was recorded" in first_call
    assert "resumed after it stopped" in first_call
    assert sup.final_answer == "resumed and finished"
