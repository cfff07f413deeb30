"""`intern-tui demo --yes --headless`: offline, real agent loop, real tiny TRL training, expected approvals."""

import json

import pytest

from intern_tui.cli import main
from intern_tui.store import open_store
from intern_tui.store.queries import iter_events, list_sessions, session_detail


@pytest.mark.slow
def test_demo_runs_offline_end_to_end(home, capsys):
    assert main(["demo", "--yes", "--headless", "--json"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert lines[-1]["kind"] == "session_ended" and lines[-1]["payload"]["status"] == "done"
    store = open_store(home)
    conn = store.connect()
    [row] = list_sessions(conn)
    detail = session_detail(conn, row["id"])
    assert "scripted" in detail["task"].lower() and detail["model"].startswith("script:")
    # the launches were approved (by --yes), the push was requested and denied by default
    decisions = [(a["tool"], a["status"]) for a in detail["approvals"]]
    assert decisions == [("launch_job", "approved")] * 3 + [("push_to_hub", "denied")]
    assert [j["status"] for j in detail["jobs"]] == ["completed"] * 3
    assert {f["path"] for f in detail["files"]} >= {"train_sft.py", "eval_sft.py", "train_grpo.py"}
    assert next(f for f in detail["files"] if f["path"] == "eval_sft.py")["versions"] == 2  # edited: a diff
    # a real loss curve from the SFT job, and it decreases
    sft_job = detail["jobs"][0]["id"]
    losses = [
        e.payload["values"]["loss"]
        for e in iter_events(conn, row["id"], kinds=["job_metric"])
        if e.payload["job_id"] == sft_job and "loss" in e.payload["values"]
    ]
    assert len(losses) >= 5 and losses[-1] < losses[0] * 0.8
    # GRPO logged rewards, and the held-out evaluation beat the untrained model
    grpo_job, eval_job = detail["jobs"][2]["id"], detail["jobs"][1]["id"]
    rewards = [
        e.payload["values"]["reward"]
        for e in iter_events(conn, row["id"], kinds=["job_metric"])
        if e.payload["job_id"] == grpo_job and "reward" in e.payload["values"]
    ]
    assert len(rewards) >= 5
    [evaluation] = [
        e.payload["values"]
        for e in iter_events(conn, row["id"], kinds=["job_metric"])
        if e.payload["job_id"] == eval_job
    ]
    assert evaluation["eval_loss"] < evaluation["baseline_eval_loss"]
    assert "Push to the Hub: denied" in detail["final_answer"]
    assert not list(iter_events(conn, row["id"], kinds=["doom_loop"]))
