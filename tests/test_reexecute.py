"""Re-execution and fork that reproduce what happened: recorded approval decisions (edits, denials) are
exported with the turns and replayed by the approval layer; a fork with a script continues at its step;
the step cap holds exactly."""

import json

from helpers import wait_for, write_policy

from intern_tui.agent.session import Runtime, SessionOptions, fork_session, start_session
from intern_tui.cli import main
from intern_tui.store.queries import get_session, iter_events

COUNTER = 'import sys\\nprint("args", sys.argv[1:])\\n'
TURNS = [
    ("Write the trainer.", f"print(write_file('count.py', '{COUNTER}'))"),
    ("Train.", "job = launch_job(script='count.py', args={'max-steps': 40})\nprint(job)"),
    ("Publish.", "print(push_to_hub('count.py', 'me/counter'))"),
    ("Done.", "final_answer('trained and tried to publish')"),
]


def decisions(conn, sid):
    return [
        (e.step, e.payload["tool"], e.payload["decision"], e.payload.get("edited"), e.payload.get("reason"))
        for e in iter_events(conn, sid, kinds=["approval_decided"])
    ]


def job_args(conn, sid):
    return [e.payload["args"] for e in iter_events(conn, sid, kinds=["job_started"])]


def record_session(rt, tmp_path) -> str:
    """A person edits the launch to 30 steps and denies the push."""
    sup = start_session(
        rt,
        SessionOptions(
            task="train a counter", model=write_policy(tmp_path / "p.jsonl", TURNS), approve="ask"
        ),
    )
    first = wait_for(lambda: sup.approvals.pending())[0]
    assert first.tool == "launch_job"
    assert sup.decide(first.id, "edit", None, {"args": {"max-steps": 30}})
    second = wait_for(lambda: [r for r in sup.approvals.pending() if r.id != first.id])[0]
    assert second.tool == "push_to_hub"
    assert sup.decide(second.id, "deny", "not before the eval")
    assert sup.wait(60) and sup.status == "done", sup.error
    rt.writer.flush()
    return sup.emitter.session_id


def test_exported_script_replays_edits_and_denials_and_fork_continues(home, tmp_path, capsys):
    rt = Runtime.open(home)
    try:
        sid = record_session(rt, tmp_path)
    finally:
        rt.close()
    exported = tmp_path / "exported.jsonl"
    assert main(["sessions", "export", sid, "--format", "script", "-o", str(exported)]) == 0
    lines = [json.loads(line) for line in exported.read_text().splitlines()]
    assert [t["step"] for t in lines] == [1, 2, 3, 4]
    assert lines[1]["decisions"][0]["edited"] == {"args": {"max-steps": 30}}
    assert lines[2]["decisions"][0]["decision"] == "deny"

    # re-run headless with the default --approve none: the recorded decisions win, and say so
    capsys.readouterr()
    assert main(["run", "--headless", "--json", "--model", f"script:{exported}", "train a counter"]) == 0
    rerun = json.loads(capsys.readouterr().out.splitlines()[0])["session_id"]
    rt = Runtime.open(home)
    try:
        conn = rt.store.connect()
        assert decisions(conn, rerun) == decisions(conn, sid)
        assert decisions(conn, rerun)[0][2:4] == ("edit", {"args": {"max-steps": 30}})
        assert decisions(conn, rerun)[1][2:] == ("deny", None, "not before the eval")
        assert job_args(conn, rerun) == job_args(conn, sid) == [["--max-steps", "30"]]
        replayed = [e.payload for e in iter_events(conn, rerun, kinds=["approval_decided"])]
        assert all(p["decided_by"] == "replay" and p["replayed"] for p in replayed)
        assert [p["recorded_by"] for p in replayed] == ["user", "user"]
        observations = [e.payload.get("error") or "" for e in iter_events(conn, rerun, kinds=["observation"])]
        assert "push_to_hub was denied: not before the eval" in observations[2]

        # fork at step 2 with the exported script: it continues with step 3's turn, not from the top
        fork = fork_session(rt, sid, 2, model=f"script:{exported}", approve="none")
        assert fork.wait(60) and fork.status == "done", fork.error
        rt.writer.flush()
        fid = fork.emitter.session_id
        own = [e for e in iter_events(conn, fid, kinds=["code_action"]) if not e.payload.get("inherited")]
        assert [(e.step, e.payload["code"]) for e in own] == [(3, TURNS[2][1]), (4, TURNS[3][1])]
        assert decisions(conn, fid) == [(3, "push_to_hub", "deny", None, "not before the eval")]
        assert get_session(conn, fid)["steps"] == 4
    finally:
        rt.close()
    assert main(["sessions", "show", rerun]) == 0
    shown = capsys.readouterr().out
    assert "approved (edited) (replayed)" in shown and "denied (replayed)    — not before the eval" in shown

    # --ask-again: the recorded decisions are not applied; the policy (here: deny all) decides
    capsys.readouterr()
    args = ["run", "--headless", "--json", "--ask-again", "--model", f"script:{exported}", "train a counter"]
    assert main(args) == 0
    again = json.loads(capsys.readouterr().out.splitlines()[0])["session_id"]
    rt = Runtime.open(home)
    try:
        conn = rt.store.connect()
        assert [d[2] for d in decisions(conn, again)] == ["deny", "deny"]
        assert job_args(conn, again) == []
    finally:
        rt.close()


def test_a_replayed_decision_is_not_applied_to_a_different_request(home, tmp_path):
    rt = Runtime.open(home)
    try:
        sid = record_session(rt, tmp_path)
        exported = tmp_path / "exported.jsonl"
        from intern_tui.store.transfer import export_script

        conn = rt.store.connect()
        with exported.open("w") as fh:
            export_script(conn, sid, fh)
        changed = exported.read_text().replace("'max-steps': 40", "'max-steps': 400")
        exported.write_text(changed)
        sup = start_session(rt, SessionOptions(task="t", model=f"script:{exported}", approve="none"))
        assert sup.wait(60)
        rt.writer.flush()
        rows = decisions(conn, sup.emitter.session_id)
        assert rows[0][:3] == (2, "launch_job", "deny")  # other arguments: the policy decided, not the record
        assert rows[1][2:] == ("deny", None, "not before the eval")
    finally:
        rt.close()


def test_the_step_cap_holds_exactly(home, tmp_path, capsys):
    turns = [(f"Step {i}.", f"print({i})") for i in range(1, 10)]
    model = write_policy(tmp_path / "long.jsonl", turns)
    assert main(["run", "--headless", "--json", "--max-steps", "3", "--model", model, "count"]) == 1
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    sid = events[0]["session_id"]
    assert [e["step"] for e in events if e["kind"] == "model_output"] == [1, 2, 3]
    assert [e["payload"]["step"] for e in events if e["kind"] == "step_started"] == [1, 2, 3]
    ended = [e for e in events if e["kind"] == "session_ended"]
    assert [e["payload"]["status"] for e in ended] == ["max_steps"]
    assert ended[0]["payload"]["steps"] == 3
    assert main(["sessions", "show", sid, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["status"], shown["steps"], shown["max_steps"]) == ("max_steps", 3, 3)


async def test_the_step_cap_in_the_tui_header(runtime, tmp_path):
    from helpers import until

    from intern_tui.tui.app import InternApp
    from intern_tui.tui.widgets.header import StatusHeader

    turns = [(f"Step {i}.", f"print({i})") for i in range(1, 10)]
    options = SessionOptions(task="count", model=write_policy(tmp_path / "long.jsonl", turns), max_steps=3)
    app = InternApp(runtime, options=options)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: app.model.status.current == "max_steps")
        await pilot.pause(0.2)
        header = str(app.dashboard.query_one(StatusHeader).render())
        assert "MAX STEPS" in header and "step 3/3" in header
        assert app.supervisor.status == "max_steps" and app.supervisor.completed == 3
