"""The persistence guard: an early final answer is sent back once while budget remains; evidence that the
goal is met (a trained model beating the base) lets it through."""

from __future__ import annotations

import json

from helpers import write_policy

from intern_tui.agent.session import SessionOptions, start_session
from intern_tui.store.queries import iter_events
from intern_tui.telemetry.evals import EVAL_MARKER


def run(runtime, tmp_path, turns, *, max_steps=20, **extra):
    model = write_policy(tmp_path / "policy.jsonl", turns)
    sup = start_session(
        runtime, SessionOptions(task="improve the model", model=model, max_steps=max_steps, extra=extra)
    )
    assert sup.wait(60)
    runtime.writer.flush()
    conn = runtime.store.connect()
    sid = sup.emitter.session_id
    return {
        kind: [e.payload for e in iter_events(conn, sid, kinds=[kind])]
        for kind in ("nudged", "final_answer", "observation", "session_ended")
    }


TURNS = [
    ("Looks fine, I'm done.", "final_answer('done early')"),
    ("Told to go on: check my jobs.", "print('continuing')"),
    ("Done now.", "final_answer('done after the nudge')"),
]


def test_an_early_final_answer_gets_one_nudge_then_the_next_one_stands(runtime, tmp_path):
    ev = run(runtime, tmp_path, TURNS, persistence_nudges=1)
    [nudge] = ev["nudged"]
    assert (
        nudge["reason"].startswith("no trained model has been evaluated")
        and nudge["left"] == "19 of 20 steps"
    )
    assert "Not done yet" in ev["observation"][0]["error"]  # what the agent read
    assert [f["answer"] for f in ev["final_answer"]] == ["done after the nudge"]
    assert ev["session_ended"][0]["status"] == "done"


def test_scripted_policies_are_not_nudged_by_default_and_zero_turns_it_off(runtime, tmp_path):
    assert run(runtime, tmp_path, TURNS)["final_answer"][0]["answer"] == "done early"
    assert not run(runtime, tmp_path, TURNS, persistence_nudges=0)["nudged"]


def test_no_nudge_when_the_budget_is_spent(runtime, tmp_path):
    ev = run(runtime, tmp_path, TURNS, max_steps=3, persistence_nudges=1)
    assert not ev["nudged"] and ev["final_answer"][0]["answer"] == "done early"


def fake_eval_job(workspace, results: list[dict]) -> None:
    job = workspace / "jobs" / "job-0000aaaa"
    job.mkdir(parents=True)
    (job / "log.txt").write_text("".join(f"{EVAL_MARKER} {json.dumps(r)}\n" for r in results))
    (workspace / "evals").mkdir(exist_ok=True)
    (workspace / "evals" / "jobs.json").write_text(json.dumps(["job-0000aaaa"]))


def test_evidence_decides_whether_the_goal_is_met(tmp_path):
    from intern_tui.agent.persistence import goal_unmet

    base = {"benchmark": "tiny-arith", "label": "base", "score": 0.25, "base": True}
    fake_eval_job(tmp_path / "a", [base, {"benchmark": "tiny-arith", "label": "job-1", "score": 0.25}])
    assert "does not beat the base model's (0.25)" in goal_unmet(tmp_path / "a")
    fake_eval_job(tmp_path / "b", [base, {"benchmark": "tiny-arith", "label": "job-1", "score": 0.6}])
    assert goal_unmet(tmp_path / "b") is None
    fake_eval_job(tmp_path / "c", [{"benchmark": "tiny-arith", "label": "job-1", "score": 0.6}])
    assert "no base-model score" in goal_unmet(tmp_path / "c")
