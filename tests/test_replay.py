"""Replay, fork, export/import: the same reducer over stored events, seekable, and sessions that travel."""

import io
import json
from pathlib import Path

import pytest
from helpers import stream_text, until, write_policy

from intern_tui.agent.session import Runtime, SessionOptions, fork_session, start_session
from intern_tui.cli import main
from intern_tui.store import open_store
from intern_tui.store.queries import get_session, iter_events
from intern_tui.store.transfer import export_script, import_events
from intern_tui.tui.app import InternApp
from intern_tui.tui.screens import replay as replay_screen_module
from intern_tui.tui.screens.replay import ReplayScreen, load_session_model
from intern_tui.tui.widgets.files import FilesPane, unified_diff

RECORDED = Path(__file__).resolve().parents[1] / "sessions" / "demo-recorded.events.jsonl"

TURNS = [
    ("Write v1.", "print(write_file('t.py', 'lr = 1e-3\\n'))"),
    ("Plan.", "print(plan(['[x] write', '[ ] tune']))"),
    ("Write v2.", "print(edit_file('t.py', '1e-3', '1e-4'))"),
    ("Spend.", "print(spend(3))"),
    ("Write v3.", "print(edit_file('t.py', '1e-4', '5e-5'))"),
    ("Done.", "final_answer('tuned')"),
]


def digest(model, at=None):
    """Everything the panes draw, as of `at`: what live and replay must agree on."""
    return {
        "status": model.status.at(at),
        "step": model.step.at(at),
        "tokens": model.tokens.at(at),
        "stream": [(i.kind, i.step, i.text) for i in model.stream_at(at)],
        "pending": [a.id for a in model.pending_approvals(at)],
        "approvals": sorted(
            (a.tool, a.status_at(at)) for a in model.approvals.values() if at is None or a.requested_seq <= at
        ),
        "files": {p: [v.version for v in vs] for p, vs in model.files_at(at).items()},
        "plan": model.plan.at(at),
        "final": model.final_answer if at is None else None,
    }


async def test_replay_reaches_the_same_state_as_the_live_run(home, tmp_path, cp):
    rt = Runtime.open(home)
    model_id = write_policy(tmp_path / "p.jsonl", TURNS)
    app = InternApp(rt, options=SessionOptions(task="replay me", model=model_id, approve="all"))
    async with app.run_test(size=(140, 40)) as pilot:
        await until(pilot, lambda: app.model.status.current == "done")
        await pilot.pause(0.2)
        live = digest(app.model)
        live_text = stream_text(app.live_dashboard)
        sid = app.supervisor.emitter.session_id
        app.open_replay(sid)
        await until(pilot, lambda: isinstance(app.screen, ReplayScreen) and app.screen.ready)
        await pilot.pause(0.2)
        replay_screen = app.screen
        assert digest(replay_screen.model) == live
        assert stream_text(replay_screen) == live_text
    rt.close()


async def test_seek_shows_the_state_at_that_step(home, tmp_path, cp, monkeypatch):
    rt = Runtime.open(home)
    sup = start_session(
        rt, SessionOptions(task="seek", model=write_policy(tmp_path / "p.jsonl", TURNS), approve="all")
    )
    assert sup.wait(30)
    rt.writer.flush()
    sid = sup.emitter.session_id
    app = InternApp(rt, replay_id=sid)
    async with app.run_test(size=(140, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ReplayScreen) and app.screen.ready)
        screen = app.screen
        model = screen.model
        screen.go_to_step(4)  # the start of step 4: file at v2, approval not yet requested
        await pilot.pause(0.1)
        assert screen.at == model.step_seqs[4]
        assert digest(model, screen.at)["files"] == {"t.py": [1, 2]}
        assert digest(model, screen.at)["status"] == "running"
        assert model.plan.at(screen.at)[0]["status"] == "done"
        await pilot.press("f")
        pane = screen.query_one(FilesPane)
        old, new = pane.current_diff()
        assert (old.version, new.version) == (1, 2) and "+lr = 1e-4" in unified_diff("t.py", old, new)
        await pilot.press("right")  # next step boundary: step 5, v3 not written yet
        await pilot.press("right")  # step 6: v3 exists
        assert screen.at == model.step_seqs[6]
        assert pane.current_diff()[1].version == 3
        await pilot.press("left")
        assert screen.at == model.step_seqs[5]
        assert pane.current_diff()[1].version == 2
        # mid-step 4 the approval is pending; after the decision it is not
        requested = next(a.requested_seq for a in model.approvals.values())
        screen.seek(requested)
        assert [a.tool for a in model.pending_approvals(screen.at)] == ["spend"]
        assert screen.model.status.at(screen.at) == "waiting"
        await pilot.press("end")
        assert screen.at == model.last_seq and model.status.at(screen.at) == "done"
        await pilot.press("home")
        assert screen.at == 1
        # so slow that each 0.1 s tick moves one event: the short session can't end before the second space
        monkeypatch.setattr(replay_screen_module, "SPEEDS", (0.001,))
        screen.speed_index = 0
        await pilot.press("space")  # play
        await until(pilot, lambda: screen.at > 1)
        await pilot.press("space")
        stopped = screen.at
        await pilot.pause(0.3)
        assert screen.at == stopped
    rt.close()


def test_fork_keeps_exactly_the_first_k_steps_and_links_its_parent(home, tmp_path, cp):
    rt = Runtime.open(home)
    parent = start_session(
        rt, SessionOptions(task="parent task", model=write_policy(tmp_path / "p.jsonl", TURNS), approve="all")
    )
    assert parent.wait(30)
    pid = parent.emitter.session_id
    child_policy = write_policy(
        tmp_path / "child.jsonl", [("Carry on differently.", "final_answer('forked')")]
    )
    child = fork_session(rt, pid, 3, instruction="try a cosine schedule", model=child_policy, approve="all")
    assert child.wait(30) and child.status == "done"
    rt.writer.flush()
    cid = child.emitter.session_id
    conn = rt.store.connect()
    row = get_session(conn, cid)
    assert row["parent_id"] == pid and row["fork_step"] == 3 and row["task"] == "parent task"
    first_call = child.agent.model.inner.seen_messages[0]
    text = " ".join(str(m.content) for m in first_call)
    assert "Write v1." in text and "Plan." in text and "Write v2." in text  # steps 1..3
    assert "Spend." not in text and "Write v3." not in text  # nothing after step 3
    assert "try a cosine schedule" in text and pid in text
    steps = [e.step for e in iter_events(conn, cid, kinds=["model_output"])]
    assert steps == [1, 2, 3, 4]  # inherited 1..3, then the fork's own step 4
    # the workspace has the file as it was at step 3 (v2), not the parent's final v3
    assert (rt.store.workspace(cid) / "t.py").read_text() == "lr = 1e-4\n"
    with pytest.raises(Exception, match="completed steps 1..6"):
        fork_session(rt, pid, 9, model=child_policy, start=False)
    rt.close()


def test_exported_script_reexecutes_the_session_deterministically(home, tmp_path, cp):
    rt = Runtime.open(home)
    first = start_session(
        rt, SessionOptions(task="t", model=write_policy(tmp_path / "p.jsonl", TURNS), approve="all")
    )
    assert first.wait(30)
    rt.writer.flush()
    out = io.StringIO()
    conn = rt.store.connect()
    assert export_script(conn, first.emitter.session_id, out) == len(TURNS)
    script = tmp_path / "exported.jsonl"
    script.write_text(out.getvalue())
    again = start_session(rt, SessionOptions(task="t", model=f"script:{script}", approve="all"))
    assert again.wait(30)
    rt.writer.flush()

    def trail(sid):
        return [
            (e.kind, e.step, e.payload.get("code") or e.payload.get("text") or e.payload.get("path"))
            for e in iter_events(conn, sid, kinds=["code_action", "observation", "file_written"])
        ]

    assert trail(again.emitter.session_id) == trail(first.emitter.session_id)
    assert again.final_answer == first.final_answer == "tuned"
    rt.close()


def test_import_the_recorded_demo_and_replay_it(home, capsys):
    assert main(["sessions", "import", str(RECORDED)]) == 0
    sid = json.loads(RECORDED.read_text().splitlines()[0])["session_id"]
    store = open_store(home)
    model = load_session_model(store, sid)
    assert model.status.current == "done" and model.step.current == 13
    _, losses = model.metric_timeline.book.series("loss")[next(iter(model.jobs))]
    base, trained = model.evals_at()  # the Evals pane's table replays too
    assert base["base"] and trained["score"] > base["score"]
    assert losses[-1] < losses[0]
    assert main(["sessions", "import", str(RECORDED)]) == 2  # already there: refused, nothing changed
    assert "already exists" in capsys.readouterr().err


def test_import_refuses_a_broken_log(home, tmp_path):
    lines = RECORDED.read_text().splitlines()
    gap = tmp_path / "gap.jsonl"
    gap.write_text("\n".join(lines[:5] + lines[6:]))
    store = open_store(home)
    with pytest.raises(Exception, match="without gaps"):
        import_events(store, gap.read_text().splitlines(), source="gap.jsonl")
    assert not store.connect().execute("SELECT count(*) FROM events").fetchone()[0]


def test_delete_removes_rows_and_workspace(home, tmp_path, cp):
    rt = Runtime.open(home)
    sup = start_session(
        rt, SessionOptions(task="t", model=write_policy(tmp_path / "p.jsonl", TURNS), approve="all")
    )
    assert sup.wait(30)
    rt.writer.flush()
    sid = sup.emitter.session_id
    assert rt.store.workspace(sid).exists()
    assert main(["sessions", "delete", sid, "--yes"]) == 0
    conn = rt.store.connect()
    for table in ("events", "approvals", "files", "jobs", "metrics"):
        assert not conn.execute(f"SELECT count(*) FROM {table} WHERE session_id=?", (sid,)).fetchone()[0]
    assert not conn.execute("SELECT count(*) FROM sessions WHERE id=?", (sid,)).fetchone()[0]
    assert not rt.store.workspace(sid).exists()
    rt.close()


@pytest.mark.parametrize("bad_id", ["../../victim", ".", "..", "a/b", ""])
def test_import_refuses_ids_that_could_name_other_folders(home, tmp_path, bad_id):
    lines = [json.dumps({**json.loads(x), "session_id": bad_id}) for x in RECORDED.read_text().splitlines()]
    victim = tmp_path / "victim"
    victim.mkdir()
    store = open_store(home)
    with pytest.raises(Exception, match="invalid session id"):
        import_events(store, lines, source="evil.jsonl")
    assert victim.exists() and not store.connect().execute("SELECT count(*) FROM events").fetchone()[0]


def test_import_refuses_a_file_over_the_size_limit_before_reading_it(home, capsys):
    assert main(["sessions", "import", "--max-size", "10K", str(RECORDED)]) == 2
    err = capsys.readouterr().err
    assert "larger than the import limit (10 KB)" in err and "--max-size" in err
    assert not open_store(home).connect().execute("SELECT count(*) FROM events").fetchone()[0]


def test_import_streams_in_batches_and_stays_all_or_nothing(home, monkeypatch):
    import intern_tui.store.transfer as transfer

    monkeypatch.setattr(transfer, "IMPORT_BATCH", 50)
    batches, read = [], [0]
    real_insert = transfer.insert_events
    monkeypatch.setattr(
        transfer,
        "insert_events",
        lambda conn, events: (batches.append((len(events), read[0])), real_insert(conn, events)),
    )
    lines = RECORDED.read_text().splitlines()

    def reading(source):
        for line in source:
            read[0] += 1
            yield line

    store = open_store(home)
    sid, count = import_events(store, reading(lines), source="demo.jsonl")
    assert count == len(lines) == sum(n for n, _ in batches)
    assert max(n for n, _ in batches) <= 50
    assert batches[0][1] < len(lines)  # the first batch was stored while the file was still being read
    # a broken line near the end rolls back every batch already inserted
    store2 = open_store(home / "other")
    broken = lines[:-3] + ['{"session_id": "x", "seq": "not a number"}'] + lines[-2:]
    with pytest.raises(Exception, match=f"demo.jsonl:{len(lines) - 2}: not an intern-tui event"):
        import_events(store2, broken, source="demo.jsonl")
    assert not store2.connect().execute("SELECT count(*) FROM events").fetchone()[0]
    # so does input that outgrows the limit while streaming (stdin has no size to check first)
    with pytest.raises(Exception, match="larger than the import limit"):
        import_events(store2, lines, source="stdin", max_bytes=len("".join(lines)) // 2)
    assert not store2.connect().execute("SELECT count(*) FROM sessions").fetchone()[0]
