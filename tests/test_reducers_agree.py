"""One event log, two readings that must agree: the TUI's reducer (`SessionModel`, what the dashboard and
replay show) and the SQL projection (`sessions`, `approvals`, `jobs`, `files`: what `sessions show` and
`sessions list` print). The recorded demo session goes in through the real import path (`sessions
import`'s `import_events`); both readings are taken from the store.

Also: the typed payloads in events.py describe the events the recording holds.
"""

import json
from pathlib import Path

import pytest

from intern_tui.events import ENDED_STATUSES, PAYLOADS, Event, SessionStatus
from intern_tui.store import open_store
from intern_tui.store.queries import iter_events, session_detail
from intern_tui.store.transfer import import_events
from intern_tui.tui.screens.replay import load_session_model
from intern_tui.tui.state import SessionModel

RECORDED = Path(__file__).resolve().parents[1] / "sessions" / "demo-recorded.events.jsonl"


@pytest.fixture
def imported(tmp_path):
    store = open_store(tmp_path / "home")
    with RECORDED.open(encoding="utf-8") as fh:
        session_id, count = import_events(store, fh, source=str(RECORDED))
    conn = store.connect()
    yield store, conn, session_id, count
    conn.close()


def model_says(model: SessionModel) -> dict:
    return {
        "status": model.status.current,
        "steps": model.step.current,
        "event_count": model.last_seq,
        "task": model.task,
        "model": model.model,
        "approvals": [
            (a.id, a.tool, a.status, a.decision, a.reason, a.decided_by)
            for a in sorted(model.approvals.values(), key=lambda a: a.requested_seq)
        ],
        "jobs": sorted((j.id, j.backend, j.script, j.status, j.exit_code) for j in model.jobs.values()),
        "files": {path: max(v.version for v in versions) for path, versions in model.files.items()},
        "final_answer": model.final_answer,
    }


def projection_says(detail: dict) -> dict:
    return {
        "status": detail["status"],
        "steps": detail["steps"],
        "event_count": detail["event_count"],
        "task": detail["task"],
        "model": detail["model"],
        "approvals": [
            (a["id"], a["tool"], a["status"], a["decision"], a["reason"], a["decided_by"])
            for a in detail["approvals"]
        ],
        "jobs": sorted(
            (j["id"], j["backend"], j["script"], j["status"], j["exit_code"]) for j in detail["jobs"]
        ),
        "files": {f["path"]: f["versions"] for f in detail["files"]},
        "final_answer": detail["final_answer"],
    }


def test_the_reducer_and_the_projection_say_the_same_of_the_recorded_demo(imported):
    store, conn, session_id, count = imported
    model = SessionModel(live=False)
    model.apply_all(iter_events(conn, session_id))
    replay = load_session_model(store, session_id)  # the replay loader's light batches, same reducer
    live = SessionModel(live=True)  # the live dashboard's bounded model, fed the same events
    live.apply_all(iter_events(conn, session_id))
    projected = projection_says(session_detail(conn, session_id))

    assert model_says(model) == projected
    assert model_says(replay) == projected
    assert model_says(live) == projected
    # what they agree on is the real session, not two empty readings
    assert projected["status"] == SessionStatus.DONE and projected["status"] in ENDED_STATUSES
    assert projected["event_count"] == count > 100
    assert projected["steps"] > 1
    assert projected["approvals"] and all(a[2] != "pending" for a in projected["approvals"])
    assert projected["jobs"] and {j[3] for j in projected["jobs"]} <= {"completed", "failed", "canceled"}
    assert projected["files"] and max(projected["files"].values()) >= 1
    assert projected["final_answer"]


def test_the_typed_payloads_describe_the_recorded_events():
    seen = set()
    for line in RECORDED.read_text(encoding="utf-8").splitlines():
        raw = json.loads(line)
        shape = PAYLOADS.get(raw["kind"])
        if shape is None:
            continue
        seen.add(raw["kind"])
        keys = set(raw["payload"])
        assert shape.__required_keys__ <= keys, (raw["kind"], shape.__required_keys__ - keys)
        assert keys <= set(shape.__annotations__), (raw["kind"], keys - set(shape.__annotations__))
        Event(raw["session_id"], raw["seq"], raw["ts"], raw["kind"], raw["step"], raw["payload"])
    assert {"session_started", "approval_decided", "job_finished", "session_ended"} <= seen


def test_session_status_values_are_the_stored_strings():
    assert [s.value for s in SessionStatus] == [
        "running", "paused", "waiting", "done", "failed", "interrupted", "max_steps"
    ]  # fmt: skip
    assert json.dumps({"status": SessionStatus.MAX_STEPS}) == '{"status": "max_steps"}'
    assert f"{SessionStatus.WAITING}" == "waiting"
