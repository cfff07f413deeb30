"""Local jobs end to end with real processes, a real bus and the real SQLite store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from helpers import running_store

from intern_tui.bus import Emitter
from intern_tui.jobs import JobManager, recover_jobs
from intern_tui.jobs.local import build_command
from intern_tui.store.queries import iter_events
from intern_tui.tools.base import ToolError

FAST = {"poll_interval": 0.05, "hold_seconds": 0.2, "cancel_grace": 2.0}


@pytest.fixture
def session(home, tmp_path):
    """(store, writer, emitter, workspace) for one session with a started store writer."""
    with running_store(home) as (store, bus, writer):
        emitter = Emitter(bus, "s1")
        emitter.emit("session_started", {"task": "jobs", "model": "script:x"})
        workspace = tmp_path / "ws"
        workspace.mkdir()
        yield store, writer, emitter, workspace


def script(workspace: Path, name: str, body: str) -> str:
    (workspace / name).write_text(textwrap.dedent(body), encoding="utf-8")
    return name


def events(store, writer, kind: str, job_id: str | None = None) -> list[dict]:
    writer.flush()
    conn = store.connect()
    try:
        out = [e.payload for e in iter_events(conn, "s1", kinds=[kind])]
    finally:
        conn.close()
    return [p for p in out if job_id is None or p.get("job_id") == job_id]


def wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def test_local_job_events_logs_metrics_alerts_and_exit_code(session):
    store, writer, emitter, ws = session
    script(
        ws,
        "job.py",
        """
        import json, os, sys
        print("job", os.environ["INTERN_TUI_JOB_ID"], "out", os.path.isdir(os.environ["INTERN_TUI_OUTPUT_DIR"]))
        print("args", sys.argv[1:])
        for i in range(300):
            print(f"line {i}")
        sys.stderr.write("\\r 10%|#  | 1/10\\r 50%|#####  | 5/10\\r100%|##########| 10/10\\n")
        print("{'loss': 2.0, 'learning_rate': 0.001, 'epoch': 0.5}")
        print("{'loss': nan, 'epoch': 1.0}")
        print("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 MiB")
        sys.exit(3)
        """,
    )
    alerts = []
    manager = JobManager(ws, emitter, on_alert=alerts.append, **FAST)
    job_id = manager.launch("job.py", args={"max-steps": 5, "fast": True})
    status = manager.wait(job_id, timeout=30)
    assert status["status"] == "failed" and status["exit_code"] == 3 and "code 3" in status["error"]

    started = events(store, writer, "job_started", job_id)[0]
    assert started["script"] == "job.py" and started["args"] == ["--max-steps", "5", "--fast"]
    assert started["pgid"] == started["pid"] and started["log_path"] == f"jobs/{job_id}/log.txt"
    logs = events(store, writer, "job_log", job_id)
    lines = [ln for p in logs for ln in p["lines"]]
    assert lines[0] == f"job {job_id} out True"
    assert lines[1] == "args ['--max-steps', '5', '--fast']"
    assert lines[2:302] == [f"line {i}" for i in range(300)]
    assert "100%|##########| 10/10" in lines and not any("\r" in ln for ln in lines)  # tqdm collapsed
    assert len(logs) < 20  # batched, not one event per line
    assert logs[-1]["offset"] == (ws / "jobs" / job_id / "log.txt").stat().st_size
    assert b"\r 10%|#" in (ws / "jobs" / job_id / "log.txt").read_bytes()  # the file keeps everything

    metrics = events(store, writer, "job_metric", job_id)
    assert [(m["step"], m["source"]) for m in metrics] == [(1, "stdout"), (2, "stdout")]
    assert metrics[0]["values"] == {"loss": 2.0, "learning_rate": 0.001, "epoch": 0.5}
    assert {a["kind"] for a in alerts} == {"nan_loss", "oom"}
    assert [a["kind"] for a in events(store, writer, "alert", job_id)] == [a["kind"] for a in alerts]
    finished = events(store, writer, "job_finished", job_id)
    assert len(finished) == 1 and finished[0]["status"] == "failed" and finished[0]["exit_code"] == 3
    assert finished[0]["duration_s"] > 0

    conn = store.connect()
    row = conn.execute("SELECT status, exit_code, backend FROM jobs WHERE id = ?", (job_id,)).fetchone()
    assert row == ("failed", 3, "local")
    # NaN is not stored in the metrics table (SQLite JSON rejects it), the finite row is
    rows = conn.execute(
        "SELECT step, metrics FROM metrics WHERE job_id = ? ORDER BY step", (job_id,)
    ).fetchall()
    assert [(s, json.loads(m)) for s, m in rows] == [(1, {"loss": 2.0, "learning_rate": 0.001, "epoch": 0.5}),
                                                     (2, {"epoch": 1.0})]  # fmt: skip
    conn.close()

    summary = manager.metrics(job_id)
    assert summary["steps_logged"] == 2 and len(summary["alerts"]) == 2
    assert manager.logs(job_id, tail=2).splitlines() == [
        "{'loss': nan, 'epoch': 1.0}",
        "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 MiB",
    ]


def test_jsonl_metrics_are_authoritative_over_stdout(session):
    store, writer, emitter, ws = session
    script(
        ws,
        "train.py",
        """
        import json, os
        path = os.environ["INTERN_TUI_METRICS_FILE"]
        open(path, "a").close()
        for step in (10, 20, 30):
            logs = {"loss": 1.0 / step, "epoch": step / 30}
            print({k: f"{v:.4g}" for k, v in logs.items()})  # what the Trainer prints
            with open(path, "a") as fh:
                fh.write(json.dumps({"step": step, **logs}) + "\\n")
        """,
    )
    manager = JobManager(ws, emitter, **FAST)
    job_id = manager.launch("train.py")
    assert manager.wait(job_id, timeout=30)["status"] == "completed"
    metrics = events(store, writer, "job_metric", job_id)
    assert [(m["step"], m["source"]) for m in metrics] == [(10, "jsonl"), (20, "jsonl"), (30, "jsonl")]
    assert manager.metrics(job_id)["parse"]["superseded"] == 3


def test_cancel_ends_the_whole_process_group(session):
    store, writer, emitter, ws = session
    script(
        ws,
        "stubborn.py",
        """
        import signal, subprocess, sys, time
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])  # a grandchild
        signal.signal(signal.SIGTERM, lambda *a: print("ignoring SIGTERM", flush=True))
        print("ready", flush=True)
        time.sleep(120)
        """,
    )
    manager = JobManager(ws, emitter, **{**FAST, "cancel_grace": 1.0})
    job_id = manager.launch("stubborn.py")
    pgid = manager.status(job_id)["pgid"]
    wait_for(lambda: "ready" in manager.logs(job_id))
    status = manager.cancel(job_id)
    assert status["status"] == "canceled"
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)
    finished = events(store, writer, "job_finished", job_id)
    assert [f["status"] for f in finished] == ["canceled"]
    assert "ignoring SIGTERM" in manager.logs(job_id)  # it got SIGTERM first, then SIGKILL
    assert manager.cancel(job_id)["note"] == "the job had already finished"


def test_cancel_of_a_polite_job_records_its_exit(session):
    _, _, emitter, ws = session
    script(ws, "sleepy.py", "import time\nprint('up', flush=True)\ntime.sleep(60)\n")
    manager = JobManager(ws, emitter, **FAST)
    job_id = manager.launch("sleepy.py")
    pgid = manager.status(job_id)["pgid"]
    wait_for(lambda: "up" in manager.logs(job_id))
    status = manager.cancel(job_id)
    assert status["status"] == "canceled" and status["exit_code"] == 143  # SIGTERM, recorded by the wrapper
    assert group_gone(pgid)


def test_timeout_stops_the_job(session):
    _, _, emitter, ws = session
    script(ws, "forever.py", "import time\ntime.sleep(60)\n")
    manager = JobManager(ws, emitter, **FAST)
    job_id = manager.launch("forever.py", timeout=0.5)
    status = manager.wait(job_id, timeout=30)
    assert status["status"] == "failed" and "timed out" in status["error"]
    assert group_gone(status["pgid"])


def test_launch_refuses_bad_requests(session):
    _, _, emitter, ws = session
    (ws.parent / "outside.py").write_text("print('no')\n")
    script(ws, "ok.py", "print('ok')\n")
    (ws / "link.py").symlink_to(ws.parent / "outside.py")
    (ws / "notes.txt").write_text("hi\n")
    manager = JobManager(ws, emitter, **FAST)
    for bad, fragment in [
        ("../outside.py", "leaves the workspace"),
        (str(ws.parent / "outside.py"), "absolute"),
        ("link.py", "symlink"),
        ("missing.py", "no script"),
        ("notes.txt", "not a Python script"),
    ]:
        with pytest.raises(ToolError, match=fragment):
            manager.launch(bad)
    with pytest.raises(ToolError, match="backend"):
        manager.launch("ok.py", backend="skypilot")
    with pytest.raises(ToolError, match="gpus"):
        manager.launch("ok.py", gpus=-1)
    with pytest.raises(ToolError, match="unknown job id"):
        manager.status("job-nope")
    assert manager.job_ids() == []  # nothing was started


def test_accelerate_command_line():
    script_path = Path("/ws/train.py")
    assert build_command("py", script_path, ["--a"]) == ["py", "/ws/train.py", "--a"]
    assert build_command("py", script_path, [], gpus=4) == [
        "py", "-m", "accelerate.commands.launch", "--num_processes", "4", "/ws/train.py",
    ]  # fmt: skip
    assert build_command("py", script_path, [], accelerate=True)[3:5] == ["--num_processes", "1"]


# -- re-attach after intern-tui died ------------------------------------------------------------------


COUNTER = """
import json, os, sys, time
n = int(sys.argv[1])
path = os.environ["INTERN_TUI_METRICS_FILE"]
for i in range(n):
    print(f"tick {i}", flush=True)
    with open(path, "a") as fh:
        fh.write(json.dumps({"step": i + 1, "loss": 1.0 / (i + 1)}) + "\\n")
    time.sleep(0.03)
sys.exit(int(sys.argv[2]))
"""


def test_reattach_continues_without_duplicate_or_lost_lines(session):
    store, writer, emitter, ws = session
    script(ws, "counter.py", COUNTER)
    first = JobManager(ws, emitter, **FAST)
    job_id = first.launch("counter.py", args=["120", "0"])
    wait_for(lambda: len(events(store, writer, "job_log", job_id)) >= 3)
    first.shutdown()  # intern-tui "dies": watchers stop, the job keeps running
    time.sleep(0.5)  # lines written while nobody watches
    assert first.status(job_id)["status"] == "running"

    second = JobManager(ws, emitter, **FAST)
    writer.flush()
    conn = store.connect()
    assert recover_jobs(conn, "s1", second) == [job_id]
    conn.close()
    assert second.wait(job_id, timeout=30)["status"] == "completed"

    lines = [ln for p in events(store, writer, "job_log", job_id) for ln in p["lines"]]
    assert lines == [f"tick {i}" for i in range(120)]
    steps = [m["step"] for m in events(store, writer, "job_metric", job_id)]
    assert steps == list(range(1, 121))
    assert [f["status"] for f in events(store, writer, "job_finished", job_id)] == ["completed"]


def test_reattach_reports_a_job_that_finished_while_away(session):
    store, writer, emitter, ws = session
    script(ws, "counter.py", COUNTER)
    first = JobManager(ws, emitter, **FAST)
    job_id = first.launch("counter.py", args=["30", "7"])
    wait_for(lambda: events(store, writer, "job_log", job_id))
    first.shutdown()
    wait_for(lambda: (ws / "jobs" / job_id / "exit_code").exists())

    second = JobManager(ws, emitter, **FAST)
    writer.flush()
    conn = store.connect()
    recover_jobs(conn, "s1", second)
    conn.close()
    status = second.wait(job_id, timeout=30)
    assert status["status"] == "failed" and status["exit_code"] == 7
    lines = [ln for p in events(store, writer, "job_log", job_id) for ln in p["lines"]]
    assert lines == [f"tick {i}" for i in range(30)]  # what was printed while away is not lost
    finished = events(store, writer, "job_finished", job_id)
    assert [(f["status"], f["exit_code"]) for f in finished] == [("failed", 7)]


def test_reattach_marks_a_vanished_job_lost(session):
    store, writer, emitter, ws = session
    script(ws, "counter.py", COUNTER)
    first = JobManager(ws, emitter, **FAST)
    job_id = first.launch("counter.py", args=["1000", "0"])
    wait_for(lambda: events(store, writer, "job_log", job_id))
    first.shutdown()
    pgid = first.status(job_id)["pgid"]
    os.killpg(pgid, signal.SIGKILL)  # e.g. the OOM killer: no chance to record an exit code

    second = JobManager(ws, emitter, **FAST)
    writer.flush()
    conn = store.connect()
    recover_jobs(conn, "s1", second)
    conn.close()
    status = second.wait(job_id, timeout=30)
    assert status["status"] == "lost" and status["exit_code"] is None
    assert "log is kept" in status["error"]
    assert (ws / "jobs" / job_id / "log.txt").read_text().startswith("tick 0\n")
    writer.flush()
    conn = store.connect()
    assert conn.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone() == ("lost",)
    conn.close()


def test_job_environment(session, monkeypatch):
    _, _, emitter, ws = session
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-not-for-jobs")
    monkeypatch.setenv("HF_TOKEN", "hf_NotForJobsUnlessNamedAbCdEfGhIj")
    monkeypatch.setenv("KEEP_ME", "yes")
    monkeypatch.setenv("CUDA_HOME", "/usr/local/cuda")
    script(
        ws,
        "env.py",
        """
        import os
        for k in ("ANTHROPIC_API_KEY", "HF_TOKEN", "OPENAI_API_KEY", "KEEP_ME", "CUDA_HOME", "EXTRA", "PYTHONUNBUFFERED"):
            print(k, os.environ.get(k))
        print("metrics", os.environ["INTERN_TUI_METRICS_FILE"].endswith("/metrics.jsonl"))
        """,
    )
    manager = JobManager(ws, emitter, **FAST)
    job_id = manager.launch("env.py", env={"EXTRA": 42, "OPENAI_API_KEY": "explicitly-passed"})
    manager.wait(job_id, timeout=30)
    assert manager.logs(job_id).splitlines() == [
        "ANTHROPIC_API_KEY None",  # built from an allow-list: no key, no token reaches training code
        "HF_TOKEN None",
        "OPENAI_API_KEY explicitly-passed",
        "KEEP_ME None",
        "CUDA_HOME /usr/local/cuda",
        "EXTRA 42",
        "PYTHONUNBUFFERED 1",
        "metrics True",
    ]
    # the user extends the allow-list in config; a secret is passed only when named
    manager = JobManager(ws, emitter, env_allow=["KEEP_*"], **FAST)
    job_id = manager.launch("env.py", secrets={"HF_TOKEN": "hf_GivenOnPurposeAbCdEfGhIjKlMn"})
    manager.wait(job_id, timeout=30)
    lines = manager.logs(job_id).splitlines()
    assert "KEEP_ME yes" in lines and "HF_TOKEN hf_GivenOnPurposeAbCdEfGhIjKlMn" in lines


def test_env_that_would_run_other_code_is_refused(session):
    _, _, emitter, ws = session
    script(ws, "ok.py", "print('ok')")
    manager = JobManager(ws, emitter, **FAST)
    for name in ("PYTHONPATH", "LD_PRELOAD", "PYTHONSTARTUP", "BASH_ENV", "INTERN_TUI_EXIT_FILE"):
        with pytest.raises(ToolError, match=f"env may not set {name}"):
            manager.launch("ok.py", env={name: "x"})


def test_reattach_of_a_row_without_process_is_lost(session):
    store, writer, emitter, ws = session
    manager = JobManager(ws, emitter, **FAST)
    assert manager.reattach([{"id": "job-ghost", "backend": "local", "status": "running", "pid": None}]) == [
        "job-ghost"
    ]
    status = manager.wait("job-ghost", timeout=10)
    assert status["status"] == "lost" and "no recorded process id" in status["error"]
    assert manager.reattach([{"id": "job-done", "status": "completed", "pid": 1}]) == []


def test_progress_bar_without_newline_and_stall_alert_with_injected_clock(session):
    store, writer, emitter, ws = session
    script(
        ws,
        "quiet.py",
        """
        import sys, time
        for i in range(1, 4):
            sys.stderr.write(f"\\r{i * 10}%|###| {i}/10")
            sys.stderr.flush()
            time.sleep(0.4)
        time.sleep(60)
        """,
    )
    now = [1000.0]
    alerts = []
    manager = JobManager(ws, emitter, clock=lambda: now[0], stall_seconds=600, on_alert=alerts.append, **FAST)
    job_id = manager.launch("quiet.py")

    # the bar is redrawn with \r and never ends its line: it arrives as `progress`, not as lines
    def last_progress():
        shown = [p["progress"] for p in events(store, writer, "job_log", job_id) if p.get("progress")]
        return shown[-1] if shown else ""

    wait_for(lambda: last_progress() == "30%|###| 3/10")
    assert all(p["lines"] == [] for p in events(store, writer, "job_log", job_id))
    assert alerts == []
    now[0] += 601  # ten minutes without a line or a metric, by the manager's clock
    wait_for(lambda: alerts)
    assert [a["kind"] for a in alerts] == ["stalled"]
    assert manager.cancel(job_id)["status"] == "canceled"


def test_python_option_is_used(session):
    _, _, emitter, ws = session
    script(ws, "which.py", "import sys\nprint(sys.executable)\n")
    manager = JobManager(ws, emitter, python=sys.executable, **FAST)
    job_id = manager.launch("which.py")
    assert manager.wait(job_id, timeout=30)["status"] == "completed"
    assert manager.logs(job_id) == sys.executable


def test_reattach_never_signals_a_process_that_is_not_the_job(session):
    """A recorded PID may belong to another program now (reuse after a reboot, or an imported log):
    re-attaching must check the process identity and leave that program alone."""
    store, writer, emitter, ws = session
    stranger = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        emitter.emit(
            "job_started",
            {
                "job_id": "job-old",
                "backend": "local",
                "script": "x.py",
                "pid": stranger.pid,
                "pgid": stranger.pid,
                "proc_id": "another-boot:123",
                "timeout": 1,
            },
        )
        writer.flush()
        conn = store.connect()
        second = JobManager(ws, emitter, **FAST)
        recover_jobs(conn, "s1", second)
        conn.close()
        status = second.wait("job-old", timeout=30)
        assert status["status"] == "lost"
        time.sleep(0.3)  # give a (wrong) timeout kill the chance to happen: it must not
        assert stranger.poll() is None, "re-attach signalled a process that was not the job"
    finally:
        stranger.kill()
        stranger.wait()
