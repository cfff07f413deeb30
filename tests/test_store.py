import json
import sqlite3
import threading

import pytest
from helpers import running_store

from intern_tui.bus import Emitter
from intern_tui.errors import BadInput
from intern_tui.redact import Redactor
from intern_tui.store import SCHEMA_VERSION, open_store
from intern_tui.store.queries import iter_events, list_sessions, resolve_session_id, session_detail


def _seqs(conn, session_id):
    return [
        r[0] for r in conn.execute("SELECT seq FROM events WHERE session_id=? ORDER BY seq", (session_id,))
    ]


def test_schema_is_recorded_and_wal_is_on(home):
    store = open_store(home)
    conn = store.connect()
    assert conn.execute("SELECT max(version) FROM schema_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"sessions", "events", "approvals", "files", "jobs", "metrics", "mirror_queue"} <= tables
    # opening again is a no-op, not a second migration
    open_store(home)
    assert conn.execute("SELECT count(*) FROM schema_version").fetchone()[0] == SCHEMA_VERSION


def test_eight_threads_two_sessions_all_persisted_gap_free(home):
    with running_store(home) as (store, bus, writer):
        emitters = [Emitter(bus, f"s{i}") for i in range(2)]
        for em in emitters:
            em.emit("session_started", {"task": "t", "model": "m"})

        def produce(em, n):
            for i in range(n):
                em.emit("job_log", {"line": f"{threading.current_thread().name} {i}"})

        threads = [
            threading.Thread(target=produce, args=(emitters[i % 2], 2500), name=f"p{i}") for i in range(8)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert writer.flush()
        conn = store.connect()
        for em in emitters:
            assert _seqs(conn, em.session_id) == list(range(1, 1 + 1 + 4 * 2500))
            # per-thread order is preserved inside the session's seq order
            lines = [e.payload["line"] for e in iter_events(conn, em.session_id, kinds=["job_log"])]
            for name in {ln.split()[0] for ln in lines}:
                mine = [int(ln.split()[1]) for ln in lines if ln.startswith(name + " ")]
                assert mine == sorted(mine) and len(mine) == 2500
        assert {r["event_count"] for r in list_sessions(conn)} == {10_001}


def test_projection_tracks_status_approvals_files_jobs_metrics(home):
    with running_store(home) as (store, bus, writer):
        em = Emitter(bus, "sess1")
        em.emit("session_started", {"task": "fine-tune", "model": "script:x", "max_steps": 5})
        conn = store.connect()

        def status():
            writer.flush()
            return conn.execute("SELECT status FROM sessions WHERE id='sess1'").fetchone()[0]

        assert status() == "running"
        em.emit("paused", {})
        assert status() == "paused"
        em.emit("resumed", {})
        em.emit(
            "approval_requested", {"id": "ap1", "tool": "launch_job", "arguments": {"script": "a.py"}}, step=2
        )
        assert status() == "waiting"
        em.emit("approval_decided", {"id": "ap1", "decision": "deny", "reason": "too big"}, step=2)
        assert status() == "running"
        em.emit("file_written", {"path": "train.py", "version": 1, "content": "print(1)\n"}, step=2)
        em.emit("file_written", {"path": "train.py", "version": 2, "content": "print(2)\n"}, step=3)
        em.emit("job_started", {"job_id": "j1", "backend": "local", "script": "train.py"}, step=3)
        em.emit("job_metric", {"job_id": "j1", "step": 10, "values": {"loss": 1.5, "note": "x"}})
        # the same step from another source: merged, the newer value wins
        em.emit("job_metric", {"job_id": "j1", "step": 10, "values": {"loss": 1.4, "grad_norm": 0.5}})
        em.emit("job_finished", {"job_id": "j1", "status": "completed", "exit_code": 0})
        em.emit("step_started", {"step": 5}, step=5)  # started, never finished: not counted
        em.emit("observation", {"text": "ok"}, step=4)
        em.emit("final_answer", {"answer": "done"}, step=4)
        em.emit("session_ended", {"status": "done"}, step=4)
        assert status() == "done"
        d = session_detail(conn, "sess1")
        assert d["steps"] == 4 and d["event_count"] == 15 and d["final_answer"] == "done"
        assert [(a["tool"], a["decision"], a["reason"]) for a in d["approvals"]] == [
            ("launch_job", "deny", "too big")
        ]
        assert [(j["id"], j["status"], j["exit_code"]) for j in d["jobs"]] == [("j1", "completed", 0)]
        assert [(f["path"], f["versions"]) for f in d["files"]] == [("train.py", 2)]
        rows = conn.execute("SELECT step, metrics FROM metrics").fetchall()
        assert [(step, json.loads(m)) for step, m in rows] == [(10, {"loss": 1.4, "grad_norm": 0.5})]


def test_pending_approval_is_abandoned_not_lost_when_session_ends(home):
    with running_store(home) as (store, bus, writer):
        em = Emitter(bus, "s")
        em.emit("session_started", {"task": "t"})
        em.emit("approval_requested", {"id": "a", "tool": "push_to_hub", "arguments": {}})
        em.emit("session_ended", {"status": "interrupted"})
        writer.flush()
        a = session_detail(store.connect(), "s")["approvals"]
        assert [(x["id"], x["status"]) for x in a] == [("a", "abandoned")]


def test_planted_secrets_never_reach_the_database_file(home, monkeypatch):
    secrets = [
        "hf_PlantedSecretAbCdEfGhIjKlMnOpQrSt",
        "sk-ant-api03-PlantedSecretAbCdEfGh",
        "sk-PlantedSecretAbCdEfGhIjKl",
        "ghp_PlantedSecretAbCdEfGhIjKlMnOpQrStUv",
        "github_pat_PlantedSecret_AbCdEfGhIjKlMnOp",
        "AKIAPLANTEDSECRET123",
        "PlantedBearerValue.xyz",
        "plantedAssignedValue42",
        "planted-env-only-value-77",
    ]
    redactor = Redactor(env={"CUSTOM_API_KEY": "planted-env-only-value-77"})
    with running_store(home) as (store, bus, writer):
        em = Emitter(bus, "leaky", redactor=redactor)
        em.emit("session_started", {"task": f"use {secrets[0]}", "model": "m"})
        em.emit("code_action", {"code": f"k = '{secrets[1]}'\nprint('{secrets[2]}')"}, step=1)
        em.emit("observation", {"text": f"{secrets[3]} {secrets[4]} {secrets[5]}"}, step=1)
        em.emit("job_log", {"line": f"Authorization: Bearer {secrets[6]}"})
        em.emit("job_log", {"line": f"MY_SERVICE_TOKEN={secrets[7]}"})
        em.emit("tool_result", {"result": {"nested": [secrets[8]]}})
        em.emit("file_written", {"path": "a.py", "version": 1, "content": f"HF_TOKEN='{secrets[0]}'"})
        em.emit(
            "approval_requested",
            {"id": "x", "tool": "launch_job", "arguments": {"env": {"HF_TOKEN": secrets[7]}}},
        )
        writer.flush()
        conn = store.connect()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = b"".join(p.read_bytes() for p in home.iterdir() if p.name.startswith("sessions.db"))
    assert b"[REDACTED]" in data
    for s in secrets:
        assert s.encode() not in data, s


def test_corrupt_database_is_refused_and_left_untouched(home):
    home.mkdir(parents=True)
    junk = b"this is not sqlite at all" * 100
    (home / "sessions.db").write_bytes(junk)
    with pytest.raises(BadInput) as err:
        open_store(home)
    assert err.value.exit_code == 2 and "not a usable SQLite database" in err.value.message
    assert (home / "sessions.db").read_bytes() == junk


def test_foreign_database_is_refused(home):
    home.mkdir(parents=True)
    conn = sqlite3.connect(home / "sessions.db")
    conn.execute("CREATE TABLE users (id INTEGER)")
    conn.commit()
    conn.close()
    before = (home / "sessions.db").read_bytes()
    with pytest.raises(BadInput, match="not an intern-tui one"):
        open_store(home)
    assert (home / "sessions.db").read_bytes() == before


def test_newer_schema_is_refused(home):
    store = open_store(home)
    conn = store.connect()
    conn.execute("INSERT INTO schema_version VALUES (?, 0)", (SCHEMA_VERSION + 5,))
    conn.close()
    with pytest.raises(BadInput, match="newer intern-tui") as err:
        open_store(home)
    assert "upgrade" in err.value.hint


@pytest.mark.parametrize("make_bad", ["file", "under_file", "proc"])
def test_unusable_home_is_a_clear_error(tmp_path, make_bad):
    if make_bad == "file":
        bad = tmp_path / "afile"
        bad.write_text("x")
    elif make_bad == "under_file":
        (tmp_path / "afile").write_text("x")
        bad = tmp_path / "afile" / "home"
    else:
        bad = tmp_path.joinpath("/proc/intern-tui-home")
    with pytest.raises(BadInput, match="cannot use") as err:
        open_store(bad)
    assert "--home" in err.value.hint


def test_dead_session_is_marked_interrupted_and_live_one_is_not(home):
    with running_store(home) as (store, bus, writer):
        alive, dead = Emitter(bus, "alive"), Emitter(bus, "dead")
        lock = store.lock_session("alive")
        assert lock.try_acquire()
        alive.emit("session_started", {"task": "a"})
        dead.emit("session_started", {"task": "d"})  # no lock held: its process is gone
        dead.emit("approval_requested", {"id": "p", "tool": "launch_job", "arguments": {}})
        writer.flush()
        assert store.recover_dead_sessions() == ["dead"]
        conn = store.connect()
        rows = dict(conn.execute("SELECT id, status FROM sessions").fetchall())
        assert rows == {"alive": "running", "dead": "interrupted"}
        last = list(iter_events(conn, "dead"))[-1]
        assert last.kind == "interrupted" and last.seq == 3 and "unexpectedly" in last.payload["reason"]
        assert session_detail(conn, "dead")["approvals"][0]["status"] == "abandoned"
        assert store.recover_dead_sessions() == []  # idempotent
        lock.release()


def test_session_ids_resolve_by_prefix(home):
    with running_store(home) as (store, bus, writer):
        for sid in ("261101-1000-aaaa", "261101-1000-aabb", "261102-0900-cccc"):
            Emitter(bus, sid).emit("session_started", {"task": sid})
        writer.flush()
        conn = store.connect()
        assert resolve_session_id(conn, "261102") == "261102-0900-cccc"
        assert resolve_session_id(conn, "261101-1000-aaaa") == "261101-1000-aaaa"
        with pytest.raises(BadInput, match="ambiguous"):
            resolve_session_id(conn, "261101-1000-aa")
        with pytest.raises(BadInput, match="no session"):
            resolve_session_id(conn, "zzz")
        with pytest.raises(BadInput, match="no session"):
            resolve_session_id(conn, "%")


def test_a_bad_event_does_not_block_the_rest(home):
    with running_store(home) as (store, bus, writer):
        em = Emitter(bus, "s")
        em.emit("session_started", {"task": "t"})
        em.emit("job_metric", {"job_id": "j", "step": 1, "values": {"loss": float("nan"), "lr": 1e-5}})
        em.emit("approval_decided", {"decision": "approve"})  # malformed: no request id → projection fails
        em.emit("job_log", {"line": "after"})
        assert writer.flush()
        conn = store.connect()
        assert [r[0] for r in conn.execute("SELECT kind FROM events ORDER BY seq")] == [
            "session_started",
            "job_metric",
            "approval_decided",
            "job_log",
        ]
        assert json.loads(conn.execute("SELECT metrics FROM metrics").fetchone()[0]) == {"lr": 1e-5}
        assert "NaN" in conn.execute("SELECT payload FROM events WHERE kind='job_metric'").fetchone()[0]


def test_disk_full_keeps_the_batch_and_retries_until_space_returns(home):
    """SQLite rolls back by itself on SQLITE_FULL; the writer must keep the events and retry, not drop them."""
    store = open_store(home)
    bus = __import__("intern_tui.bus", fromlist=["EventBus"]).EventBus()
    holder = {}

    def connect():
        holder["conn"] = store.connect()
        return holder["conn"]

    from intern_tui.store import StoreWriter

    writer = StoreWriter(connect, bus)
    writer.start()
    em = Emitter(bus, "full")
    em.emit("session_started", {"task": "t"})
    assert writer.flush()
    pages = holder["conn"].execute("PRAGMA page_count").fetchone()[0]
    holder["conn"].execute(f"PRAGMA max_page_count = {pages}")  # the disk is full
    for i in range(200):
        em.emit("observation", {"text": "x" * 2000, "i": i})
    assert not writer.flush(timeout=1.0)  # cannot commit while full…
    assert writer.last_error and "full" in writer.last_error
    holder["conn"].execute("PRAGMA max_page_count = 1000000")  # …space is freed
    assert writer.flush(timeout=30)
    writer.stop()
    seqs = [
        r[0] for r in store.connect().execute("SELECT seq FROM events WHERE session_id='full' ORDER BY seq")
    ]
    assert seqs == list(range(1, 202))


def test_the_overview_row_reads_the_newest_jobs_latest_metric_and_the_last_gpu_sample(home):
    from intern_tui.agent.session import Runtime
    from intern_tui.store.queries import session_overview

    rt = Runtime.open(home)
    em = Emitter(rt.bus, "ov")
    em.emit("session_started", {"task": "t", "model": "script:p.jsonl"})
    for job in ("job-a", "job-b"):
        em.emit("job_started", {"job_id": job, "backend": "local", "script": "t.py"})
        for step in (1, 2, 3):
            em.emit("job_metric", {"job_id": job, "step": step, "values": {"loss": step / 10, "lr": 1e-5}})

    def gpu(util, job):
        processes = [{"pid": 1, "job_id": job}] if job else []
        return {"util_gpu": util, "mem_used": 2**30, "mem_total": 8 * 2**30, "processes": processes}

    em.emit("gpu_sample", {"state": "ok", "gpus": [gpu(90, None), gpu(10, None)]})
    em.emit("gpu_sample", {"state": "ok", "gpus": [gpu(80, "job-b"), gpu(40, "job-b"), gpu(5, None)]})
    em.emit("approval_requested", {"id": "ap-1", "tool": "launch_job", "arguments": {"script": "t.py"}})
    rt.writer.flush()
    row = session_overview(rt.store.connect(), "ov")
    assert row["metric"] == {"job_id": "job-b", "step": 3, "name": "loss", "value": 0.3}
    # only the GPUs the session's jobs run on, from the last sample
    assert row["gpu"] == {"state": "ok", "gpus": 2, "attributed": True, "util": 60.0,
                          "mem_used": 2 * 2**30, "mem_total": 16 * 2**30}  # fmt: skip
    assert [p["tool"] for p in row["pending"]] == ["launch_job"]
    assert row["pending"][0]["arguments"] == {"script": "t.py"}
    rt.close()
