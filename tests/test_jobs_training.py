"""Real tiny TRL runs as local jobs, end to end: template → JobManager → events → SQLite."""

from __future__ import annotations

import json

import pytest
from helpers import running_store

from intern_tui.bus import Emitter
from intern_tui.jobs import JobManager
from intern_tui.store.queries import iter_events
from intern_tui.templates import install

pytestmark = pytest.mark.slow


@pytest.fixture
def run_template(home, tmp_path):
    """Run a template as a job; returns (status, events by kind, metrics table rows, manager)."""

    def run(script: str, args: dict) -> tuple[dict, dict[str, list[dict]], list[tuple], JobManager]:
        ws = tmp_path / "ws"
        install(ws)
        with running_store(home) as (store, bus, writer):
            emitter = Emitter(bus, "s1")
            emitter.emit("session_started", {"task": "train", "model": "script:x"})
            alerts: list[dict] = []
            manager = JobManager(ws, emitter, on_alert=alerts.append, poll_interval=0.1)
            job_id = manager.launch(script, args=args)
            status = manager.wait(job_id, timeout=180)
            writer.flush()
            conn = store.connect()
            by_kind: dict[str, list[dict]] = {}
            for e in iter_events(conn, "s1"):
                by_kind.setdefault(e.kind, []).append(e.payload)
            rows = conn.execute("SELECT step, metrics FROM metrics WHERE job_id = ? ORDER BY step", (job_id,))
            table = [(step, json.loads(m)) for step, m in rows]
            conn.close()
        return status, by_kind, table, manager

    return run


def _jsonl_steps(manager: JobManager, job_id: str) -> list[int]:
    path = manager.workspace / "jobs" / job_id / "metrics.jsonl"
    return [json.loads(line)["step"] for line in path.read_text().splitlines()]


def test_sft_template_as_a_job(run_template):
    status, ev, table, manager = run_template("train_sft.py", {"max-steps": 30, "logging-steps": 5})
    assert status["status"] == "completed" and status["exit_code"] == 0, manager.logs(status["job_id"], 40)
    job_id = status["job_id"]
    assert [f["status"] for f in ev["job_finished"]] == ["completed"]
    metrics = ev["job_metric"]
    train = [m for m in metrics if "loss" in m["values"]]
    assert [m["step"] for m in train] == [5, 10, 15, 20, 25, 30]
    assert {m["source"] for m in metrics} == {"jsonl"}  # stdout and trainer_state were deduplicated
    assert len(metrics) == len(_jsonl_steps(manager, job_id))  # one event per logged record
    assert train[-1]["values"]["loss"] < train[0]["values"]["loss"]  # it learns
    assert [s for s, _ in table] == [5, 10, 15, 20, 25, 30] and "train_runtime" in table[-1][1]
    lines = [ln for p in ev["job_log"] for ln in p["lines"]]
    summary = json.loads(next(ln for ln in lines if ln.startswith('{"summary"')))
    assert summary["summary"] == "sft" and summary["steps"] == 30
    assert summary["output_dir"].endswith(f"jobs/{job_id}/output")
    assert (manager.workspace / "jobs" / job_id / "output" / "model.safetensors").is_file()
    assert not any("\r" in ln for ln in lines)
    assert ev.get("alert", []) == []


def test_grpo_template_as_a_job(run_template):
    status, ev, table, manager = run_template(
        "train_grpo.py", {"max-steps": 8, "logging-steps": 2, "max-completion-length": 16}
    )
    assert status["status"] == "completed", manager.logs(status["job_id"], 40)
    metrics = ev["job_metric"]
    train = [m for m in metrics if "reward" in m["values"]]
    assert [m["step"] for m in train] == [2, 4, 6, 8]
    first = train[0]["values"]
    for key in ("reward", "reward_std", "frac_reward_zero_std", "rewards/reward_answer/mean", "loss"):
        assert key in first
    assert "kl" not in first  # beta = 0: no reference model, no KL
    assert len(metrics) == len(_jsonl_steps(manager, status["job_id"]))
    assert [f["exit_code"] for f in ev["job_finished"]] == [0]
    assert [s for s, _ in table] == [2, 4, 6, 8]


def test_dpo_template_as_a_job(run_template):
    status, ev, _, manager = run_template("train_dpo.py", {"max-steps": 10, "logging-steps": 5})
    assert status["status"] == "completed", manager.logs(status["job_id"], 40)
    train = [m for m in ev["job_metric"] if "loss" in m["values"]]
    assert [m["step"] for m in train] == [5, 10]
    assert {"rewards/margins", "rewards/accuracies", "logps/chosen"} <= set(train[0]["values"])
