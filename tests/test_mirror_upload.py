"""The Hub mirror against a fake Hub (the remote service) and the real store: layout, exactly-once through
offline spells, failures and a killed process, privacy, redaction, and a UI thread that never waits."""

import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
import yaml
from helpers import running_store
from mirror_fakes import FakeHub, emit_session, http_error

from intern_tui.bus import Emitter
from intern_tui.mirror import Mirror, MirrorSettings, export_trace
from intern_tui.redact import Redactor
from intern_tui.store import open_store
from intern_tui.store.queries import iter_events

REPO = "alice/intern-tui-sessions"
ROOT = Path(__file__).resolve().parents[1]


class Clock:
    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def mirror_for(store, hub, clock=None, **settings) -> Mirror:
    settings.setdefault("heartbeat_seconds", 300)
    return Mirror(store, MirrorSettings(**settings), api=hub, clock=clock or Clock())


def shards(files: dict[str, bytes], session_id: str) -> list[tuple[int, int, list[int]]]:
    """(from, to, seqs in the file) of each shard of a session, in path order."""
    out = []
    prefix = f"sessions/{session_id}/events/"
    for path in sorted(p for p in files if p.startswith(prefix)):
        start, end = (int(x) for x in path[len(prefix) : -len(".jsonl")].split("-"))
        seqs = [json.loads(line)["seq"] for line in files[path].decode().splitlines()]
        out.append((start, end, seqs))
    return out


def assert_exactly_once(files: dict[str, bytes], session_id: str, last_seq: int) -> None:
    parts = shards(files, session_id)
    seqs = [s for _, _, file_seqs in parts for s in file_seqs]
    assert seqs == list(range(1, last_seq + 1)), "shards must hold every event once, in order"
    for (start, end, file_seqs), nxt in zip(parts, parts[1:] + [None], strict=True):
        assert file_seqs == list(range(start, end + 1))
        if nxt is not None:
            assert nxt[0] == end + 1, "shards must be contiguous"


def last_seq(store, session_id: str) -> int:
    conn = store.connect()
    try:
        return conn.execute("SELECT max(seq) FROM events WHERE session_id=?", (session_id,)).fetchone()[0]
    finally:
        conn.close()


def test_first_push_creates_a_private_dataset_with_the_documented_layout(home, tmp_path):
    hub = FakeHub(tmp_path / "hub")
    with running_store(home) as (store, bus, writer):
        emit_session(Emitter(bus, "s1"))
        writer.flush()
        report = mirror_for(store, hub).push()
        assert report.error is None and report.sessions == ["s1"]
        assert "create_repo:dataset:private=True" in hub.calls
        assert hub.repo_meta(REPO)["private"] is True
        files = hub.files(REPO)
        n = last_seq(store, "s1")
        assert set(files) == {
            "README.md",
            "sessions/s1/trace.jsonl",
            "sessions/s1/meta.json",
            f"sessions/s1/events/00000001-{n:08d}.jsonl",
        }
        conn = store.connect()
        # the shard holds exactly what `sessions export --format events` prints
        exported = "".join(e.to_json() + "\n" for e in iter_events(conn, "s1")).encode()
        assert files[f"sessions/s1/events/00000001-{n:08d}.jsonl"] == exported
        out = io.StringIO()
        export_trace(conn, "s1", out)
        assert files["sessions/s1/trace.jsonl"] == out.getvalue().encode()
        meta = json.loads(files["sessions/s1/meta.json"])
        assert meta["id"] == "s1" and meta["task"] == "fine-tune a tiny model" and meta["status"] == "done"
        assert meta["model"] == "script:demo.jsonl" and meta["steps"] == 3 and meta["events"] == n
        assert meta["started_at"].endswith("Z") and meta["ended_at"].endswith("Z") and "parent" in meta
    card = files["README.md"].decode()
    front = yaml.safe_load(card.split("---")[1])
    assert {"agent-traces", "claude-code", "hf-agent-trace-viewer", "intern-tui"} <= set(front["tags"])
    assert front["configs"][0]["data_files"][0]["path"] == "sessions/*/trace.jsonl"
    assert len(hub.commits()) == 1, "one atomic commit for shard, trace, meta and card"


def test_heartbeats_upload_only_new_events_and_each_shard_once(home, tmp_path):
    hub = FakeHub(tmp_path / "hub")
    with running_store(home) as (store, bus, writer):
        em = Emitter(bus, "s1")
        mirror = mirror_for(store, hub)
        emit_session(em, steps=1, end=False)
        writer.flush()
        first = last_seq(store, "s1")
        assert mirror.sync_once().sessions == ["s1"]
        assert mirror.sync_once().sessions == [], "nothing new: nothing sent"
        em.emit("model_output", {"text": "more", "thought": "more"}, step=2)
        em.emit("session_ended", {"status": "done"}, step=2)
        writer.flush()
        assert mirror.sync_once().sessions == ["s1"]
        n = last_seq(store, "s1")
    commits = hub.commits()
    assert len(commits) == 2
    second_shards = [p for p in commits[1]["paths"] if "/events/" in p]
    assert second_shards == [f"sessions/s1/events/{first + 1:08d}-{n:08d}.jsonl"]
    assert "README.md" not in commits[1]["paths"], "the card is written once"
    files = hub.files(REPO)
    assert_exactly_once(files, "s1", n)
    assert json.loads(files["sessions/s1/meta.json"])["status"] == "done"
    assert "[session ended: done]" in files["sessions/s1/trace.jsonl"].decode()
    all_paths = [p for c in commits for p in c["paths"] if "/events/" in p]
    assert len(all_paths) == len(set(all_paths)), "a shard is never uploaded twice"


def test_offline_for_a_whole_session_then_online_delivers_everything_exactly_once(home, tmp_path):
    hub = FakeHub(tmp_path / "hub")
    hub.offline = True
    clock = Clock()
    with running_store(home) as (store, bus, writer):
        mirror = mirror_for(store, hub, clock, shard_events=7)
        em = Emitter(bus, "s1")
        em.emit("session_started", {"task": "t", "model": "m"})
        for i in range(5):  # heartbeats through the session, all offline
            for j in range(9):
                em.emit("job_log", {"line": f"{i}.{j}"})
            writer.flush()
            report = mirror.sync_once()
            assert report.error is not None and report.error.kind == "offline"
            clock.now += 300
        em.emit("session_ended", {"status": "done"})
        writer.flush()
        mirror.sync_once()
        status = mirror.status()
        assert status.state == "offline" and str(status) == "mirror: 1 pending, offline"
        assert hub.commits() == []
        # back online, after a restart: the new process finds the work recorded and finishes it
        hub.offline = False
        restarted = mirror_for(store, hub, clock, shard_events=7)
        report = restarted.push()
        assert report.error is None
        assert str(restarted.status()) == "mirror: synced"
        n = last_seq(store, "s1")
    files = hub.files(REPO)
    assert_exactly_once(files, "s1", n)
    paths = [p for c in hub.commits() for p in c["paths"] if "/events/" in p]
    assert len(paths) == len(set(paths)) == len(shards(files, "s1"))
    assert all(len(seqs) <= 7 for _, _, seqs in shards(files, "s1"))


def _reference_files(tmp_path, db_copy: Path) -> dict[str, bytes]:
    """What an uninterrupted push of the same database produces."""
    ref_home = tmp_path / "ref-home"
    ref_home.mkdir()
    src = sqlite3.connect(db_copy)
    dst = sqlite3.connect(ref_home / "sessions.db")
    src.backup(dst)
    src.close()
    dst.close()
    hub = FakeHub(tmp_path / "ref-hub")
    assert mirror_for(open_store(ref_home), hub, shard_events=10).push().error is None
    return hub.files(REPO)


def _two_sessions(home):
    with running_store(home) as (store, bus, writer):
        emit_session(Emitter(bus, "a"), steps=3)
        emit_session(Emitter(bus, "b"), steps=2)
        writer.flush()
    return open_store(home)


@pytest.mark.parametrize("mode", ["before", "after"])
def test_failure_on_the_nth_call_then_restart_gives_the_same_end_state(home, tmp_path, mode):
    store = _two_sessions(home)
    reference = _reference_files(tmp_path, store.path)
    hub = FakeHub(tmp_path / "hub")
    hub.fail_commit = {3: mode}  # the third commit fails: sent but unanswered ("after"), or never sent
    shard_small = {"shard_events": 10, "shards_per_commit": 2}
    report = mirror_for(store, hub, **shard_small).push()
    assert report.error is not None and report.error.kind == "offline"
    conn = store.connect()
    failed = conn.execute("SELECT count(*) FROM mirror_queue WHERE status='failed'").fetchone()[0]
    assert failed >= 1 and conn.execute("SELECT max(attempts) FROM mirror_queue").fetchone()[0] == 1
    # restart: a new mirror (new process state) over the same database and the same remote
    hub2 = FakeHub(tmp_path / "hub")
    assert mirror_for(store, hub2, **shard_small).push().error is None
    assert hub2.files(REPO) == reference
    for sid in ("a", "b"):
        assert_exactly_once(reference, sid, last_seq(store, sid))
    remaining = conn.execute("SELECT count(*) FROM mirror_queue WHERE status != 'done'").fetchone()[0]
    assert remaining == 0


CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    sys.path[:0] = [sys.argv[3], sys.argv[3] + "/tests"]
    from mirror_fakes import FakeHub
    from intern_tui.mirror import Mirror, MirrorSettings
    from intern_tui.store import open_store

    hub = FakeHub(Path(sys.argv[2]))
    hub.fail_commit = {2: "hang"}
    mirror = Mirror(open_store(Path(sys.argv[1])), MirrorSettings(shard_events=10, shards_per_commit=2), api=hub)
    mirror.push(progress=lambda line: print(line, flush=True))
    """
)


def test_process_killed_mid_upload_resumes_after_restart_exactly_once(home, tmp_path):
    store = _two_sessions(home)
    reference = _reference_files(tmp_path, store.path)
    hub_dir = tmp_path / "hub"
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(home), str(hub_dir), str(ROOT)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        started = 0
        for line in proc.stdout:  # the second commit hangs: wait until it is in flight
            started += line.rstrip().endswith("…")
            if started == 2:
                break
        assert started == 2, proc.stderr.read()
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    hub = FakeHub(hub_dir)
    assert len(hub.commits()) == 1, "the first commit landed, the second never did"
    assert mirror_for(store, hub, shard_events=10, shards_per_commit=2).push().error is None
    assert hub.files(REPO) == reference


def test_public_repo_is_refused_with_a_clear_message(home, tmp_path):
    hub = FakeHub(tmp_path / "hub")
    hub.add_repo(REPO, private=False)
    with running_store(home) as (store, bus, writer):
        emit_session(Emitter(bus, "s1"))
        writer.flush()
        mirror = mirror_for(store, hub)
        report = mirror.push()
        assert report.error.kind == "refused"
        assert report.error.message.startswith("refused: repo is public (datasets/alice/intern-tui-sessions)")
        assert str(mirror.status()) == "mirror: refused: repo is public"
        assert hub.commits() == [] and hub.files(REPO) == {}
        # nothing is lost: the work waits, and goes once the user explicitly allows a public target
        assert mirror_for(store, hub, allow_public=True).push().error is None
        assert "sessions/s1/trace.jsonl" in hub.files(REPO)


def test_repo_made_public_between_uploads_stops_the_next_upload(home, tmp_path):
    hub = FakeHub(tmp_path / "hub")
    with running_store(home) as (store, bus, writer):
        em = Emitter(bus, "s1")
        mirror = mirror_for(store, hub)
        emit_session(em, steps=1, end=False)
        writer.flush()
        assert mirror.sync_once().error is None
        before = hub.files(REPO)
        hub.set_private(REPO, False)  # someone flips it on the website
        em.emit("session_ended", {"status": "done"})
        writer.flush()
        report = mirror.sync_once()
        assert report.error.kind == "refused" and mirror.status().state == "refused"
        assert hub.files(REPO) == before and len(hub.commits()) == 1
        hub.set_private(REPO, True)
        assert mirror.sync_once().error is None
        assert_exactly_once(hub.files(REPO), "s1", last_seq(store, "s1"))


def test_planted_secrets_never_appear_in_uploaded_bytes(home, tmp_path, monkeypatch):
    env_secret = "zq-planted-env-value-5309"
    shape_secret = "hf_PlantedRawRowSecretAbCdEfGhIjKl"
    openai_secret = "sk-PlantedRawRowSecretAbCdEfGhIjKl"
    blind = Redactor(env={})  # the emitter's redactor does not know the env secret
    with running_store(home) as (store, bus, writer):
        em = Emitter(bus, "s1", redactor=blind)
        em.emit("session_started", {"task": f"use key {env_secret}", "model": "m"})
        em.emit("task", {"task": f"use key {env_secret}"})
        em.emit("code_action", {"code": f"k = '{env_secret}'", "call_id": "c"}, step=1)
        em.emit("observation", {"text": f"printed {env_secret}"}, step=1)
        writer.flush()
        conn = store.connect()
        # a redaction miss of a known token shape, written straight into the database
        seq = last_seq(store, "s1")
        rows = [
            ("s1", seq + 1, 1.0, "job_log", None, json.dumps({"line": f"token={shape_secret}"})),
            (
                "s1",
                seq + 2,
                2.0,
                "model_output",
                1,
                json.dumps({"text": openai_secret, "thought": openai_secret}),
            ),
            ("s1", seq + 3, 3.0, "final_answer", 1, json.dumps({"answer": f"done with {shape_secret}"})),
        ]
        conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", rows)
        conn.execute("UPDATE sessions SET final_answer = ? WHERE id = 's1'", (shape_secret,))
        stored = b"".join(p.read_bytes() for p in home.iterdir() if p.name.startswith("sessions.db"))
        assert env_secret.encode() in stored  # the premise: the secret did get past ingestion
        monkeypatch.setenv("PLANTED_SERVICE_API_KEY", env_secret)  # known to the uploader's redactor
        hub = FakeHub(tmp_path / "hub")
        assert mirror_for(store, hub).push().error is None
    sent = hub.uploaded_bytes()
    assert sent and any(b"[REDACTED]" in blob for blob in sent)
    for blob in sent:
        for secret in (env_secret, shape_secret, openai_secret):
            assert secret.encode() not in blob
    files = hub.files(REPO)
    for path, data in files.items():  # scrubbing kept every file parseable
        if path.endswith(".jsonl"):
            [json.loads(line) for line in data.decode().splitlines()]
        elif path.endswith(".json"):
            json.loads(data)


def test_workspace_files_are_uploaded_only_when_configured(home, tmp_path):
    with running_store(home) as (store, bus, writer):
        emit_session(Emitter(bus, "s1"))
        writer.flush()
    ws = store.workspace("s1")
    ws.mkdir(parents=True)
    (ws / "train.py").write_text("HF_TOKEN = 'hf_WorkspaceSecretAbCdEfGhIjKlMn'\nprint('hi')\n")
    (ws / "model.bin").write_bytes(b"\x00\x01\x02" * 100)
    hub = FakeHub(tmp_path / "hub")
    assert mirror_for(store, hub).push().error is None
    assert not any("workspace" in p for p in hub.files(REPO))
    hub2 = FakeHub(tmp_path / "hub2")
    assert mirror_for(store, hub2, upload_workspace=True).push().error is None
    files = hub2.files(REPO)
    assert set(p for p in files if "/workspace/" in p) == {"sessions/s1/workspace/train.py"}
    assert b"hf_WorkspaceSecret" not in files["sessions/s1/workspace/train.py"]
    assert b"print('hi')" in files["sessions/s1/workspace/train.py"]


def test_ui_calls_return_at_once_while_the_hub_hangs(home, tmp_path):
    hub = FakeHub(tmp_path / "hub")
    hub.fail_commit = {1: "hang"}
    with running_store(home) as (store, bus, writer):
        emit_session(Emitter(bus, "s1"))
        writer.flush()
        mirror = mirror_for(store, hub)
        mirror.start()
        assert hub.entered.wait(10), "the uploader never reached the Hub"
        results = []

        def ui():
            mirror.notify("s1")
            mirror.heartbeat()
            results.append(mirror.status())
            results.append(mirror.stop(timeout=0.2))  # gives up waiting; the work stays queued

        caller = threading.Thread(target=ui)
        caller.start()
        caller.join(10)
        assert not caller.is_alive(), "a UI call blocked on the hung upload"
        assert results[0].state == "uploading" and results[1] is False
        hub.release.set()  # the stalled connection dies
        assert mirror.wait_cycles(1, timeout=10)
        assert mirror.stop(timeout=10)
        conn = store.connect()
        assert conn.execute("SELECT count(*) FROM mirror_queue WHERE status != 'done'").fetchone()[0] >= 1
        # the failed upload backs off (the stopping thread's last cycle left it alone); a push delivers it
        assert hub.commits() == []
        assert mirror_for(store, hub).push().error is None
        assert_exactly_once(hub.files(REPO), "s1", last_seq(store, "s1"))


def test_background_thread_pushes_when_a_session_ends(home, tmp_path):
    hub = FakeHub(tmp_path / "hub")
    with running_store(home) as (store, bus, writer):
        mirror = Mirror(store, MirrorSettings(heartbeat_seconds=3600), api=hub, bus=bus)
        mirror.start()
        assert mirror.wait_cycles(1)  # the start-up cycle: nothing to do yet
        emit_session(Emitter(bus, "s1"))  # ends with session_ended: the mirror wakes without a heartbeat
        assert mirror.wait_cycles(2)
        assert mirror.stop()
        files = hub.files(REPO)
        assert "[session ended: done]" in files["sessions/s1/trace.jsonl"].decode()
        assert_exactly_once(files, "s1", last_seq(store, "s1"))
        assert str(mirror.status()) == "mirror: synced"


def test_failed_uploads_back_off_exponentially_and_retry_when_due(home, tmp_path):
    hub = FakeHub(tmp_path / "hub")
    clock = Clock()
    with running_store(home) as (store, bus, writer):
        emit_session(Emitter(bus, "s1"))
        writer.flush()
        mirror = mirror_for(store, hub, clock)
        hub.error_on["create_commit"] = http_error(503)
        conn = store.connect()
        waits = []
        for _ in range(3):
            report = mirror.sync_once()
            assert report.error.kind == "server"
            due = conn.execute("SELECT next_attempt_at FROM mirror_queue WHERE item='events'").fetchone()[0]
            waits.append(due - clock.now)
            assert mirror.sync_once().sessions == [] and hub.calls.count("create_commit") == len(waits)
            clock.now = due
        assert waits == [10, 20, 40]
        del hub.error_on["create_commit"]
        assert mirror.sync_once().sessions == ["s1"]
