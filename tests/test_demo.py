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
    # the first launch trains on benchmark items: flagged by the guard, so --yes did not approve it; the clean
    # relaunch, the evaluation and GRPO were approved; the push was requested and denied by default
    decisions = [(a["tool"], a["status"]) for a in detail["approvals"]]
    assert decisions == [("launch_job", "denied"), ("launch_job", "approved"), ("evaluate", "approved"),
                         ("launch_job", "approved"), ("push_to_hub", "denied")]  # fmt: skip
    [flagged, clean] = [e.payload for e in iter_events(conn, row["id"], kinds=["approval_requested"])][:2]
    assert flagged["estimate"]["flags"][0].startswith("contamination: 12 of 40 tiny-arith items (30%)")
    assert clean["estimate"]["contamination"]["worst"] == 0.0 and "flags" not in clean["estimate"]
    assert "flagged" in detail["approvals"][0]["reason"]
    assert [j["status"] for j in detail["jobs"]] == ["completed"] * 3
    assert {f["path"] for f in detail["files"]} >= {
        "data/train_mix.jsonl",
        "data/train_clean.jsonl",
        "train_sft.py",
    }
    assert next(f for f in detail["files"] if f["path"] == "train_grpo.py")["versions"] == 2  # edited: a diff
    # a real loss curve from the SFT job, and it decreases
    sft_job = detail["jobs"][0]["id"]
    losses = [
        e.payload["values"]["loss"]
        for e in iter_events(conn, row["id"], kinds=["job_metric"])
        if e.payload["job_id"] == sft_job and "loss" in e.payload["values"]
    ]
    assert len(losses) >= 5 and losses[-1] < losses[0] * 0.8
    # GRPO logged rewards, and on the bundled benchmark the trained model beat the untrained base
    grpo_job, eval_job = detail["jobs"][2]["id"], detail["jobs"][1]["id"]
    rewards = [
        e.payload["values"]["reward"]
        for e in iter_events(conn, row["id"], kinds=["job_metric"])
        if e.payload["job_id"] == grpo_job and "reward" in e.payload["values"]
    ]
    assert len(rewards) >= 5
    base, trained = [e.payload for e in iter_events(conn, row["id"], kinds=["eval_result"])]
    assert base["job_id"] == trained["job_id"] == eval_job and base["base"] and not trained["base"]
    assert base["benchmark"] == trained["benchmark"] == "tiny-arith" and base["n"] == trained["n"] == 40
    assert trained["score"] > base["score"]
    assert f"tiny-arith accuracy: {trained['score']:.3f} vs {base['score']:.3f}" in detail["final_answer"]
    assert "Push to the Hub: denied" in detail["final_answer"]
    assert not list(iter_events(conn, row["id"], kinds=["doom_loop"]))
