"""The job tools through the real ToolGate, with an approvals double standing in for the human."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from intern_tui.bus import Emitter, EventBus
from intern_tui.jobs import JobManager
from intern_tui.tools import ToolContext, ToolGate
from intern_tui.tools import jobs as job_tools
from intern_tui.tools.base import ApprovalDenied, ToolError


@dataclass
class Decision:
    approved: bool
    status: str
    edited: dict[str, Any] | None = None
    reason: str | None = None


class Approvals:
    """Answers every request the same way and remembers what it was asked."""

    def __init__(self, approve: bool = True, edited: dict[str, Any] | None = None, reason: str | None = None):
        self.approve, self.edited, self.reason = approve, edited, reason
        self.requests: list[tuple[str, dict, dict]] = []

    def request(self, tool: str, arguments: dict, estimate: dict, pinned=None) -> Decision:
        self.requests.append((tool, arguments, estimate))
        if self.approve:
            return Decision(True, "approved", self.edited)
        return Decision(False, "denied", reason=self.reason)


@pytest.fixture
def gate_for(tmp_path):
    def make(approvals: Approvals) -> tuple[ToolGate, list]:
        bus = EventBus()
        sub = bus.subscribe("test")
        emitter = Emitter(bus, "s1")
        ws = tmp_path / "ws"
        ws.mkdir(exist_ok=True)
        (ws / "job.py").write_text(
            "import sys\nprint('hello', sys.argv[1:])\nprint({'loss': 0.5, 'epoch': 1.0})\n"
        )
        manager = JobManager(ws, emitter, poll_interval=0.05, hold_seconds=0.1)
        ctx = ToolContext(session_id="s1", workspace=ws, emitter=emitter, approvals=approvals, jobs=manager)
        return ToolGate(ctx), sub

    return make


def test_launch_needs_approval_and_the_other_tools_follow_the_job(gate_for):
    approvals = Approvals()
    gate, sub = gate_for(approvals)
    job_id = gate.invoke("launch_job", ("job.py",), {"args": ["--x", "1"], "timeout": 1800})
    assert isinstance(job_id, str) and job_id.startswith("job-")
    ((tool, arguments, estimate),) = approvals.requests
    assert tool == "launch_job" and arguments["script"] == "job.py"
    assert set(estimate) == {"backend", "gpus", "hours", "gpu_hours", "usd", "summary"}
    assert estimate["usd"] == 0.0 and estimate["backend"] == "local"
    assert "0.5 h" in estimate["summary"]

    gate.ctx.jobs.wait(job_id, timeout=30)
    status = gate.invoke("job_status", (job_id,), {})
    assert status["status"] == "completed" and status["exit_code"] == 0
    assert gate.invoke("job_logs", (job_id,), {"tail": 1}) == "{'loss': 0.5, 'epoch': 1.0}"
    metrics = gate.invoke("job_metrics", (job_id,), {})
    assert metrics["latest"] == {"loss": 0.5, "epoch": 1.0} and metrics["steps_logged"] == 1
    assert gate.invoke("cancel_job", (job_id,), {})["note"] == "the job had already finished"
    kinds = [e.kind for e in sub.drain()]
    assert kinds.count("tool_call") == 5 and kinds.count("tool_result") == 5
    assert "job_started" in kinds and "job_finished" in kinds


def test_denied_launch_starts_nothing(gate_for):
    gate, _ = gate_for(Approvals(approve=False, reason="too expensive"))
    with pytest.raises(ApprovalDenied, match="too expensive"):
        gate.invoke("launch_job", ("job.py",), {})
    assert gate.ctx.jobs.job_ids() == []


def test_edited_arguments_are_what_runs(gate_for):
    gate, _ = gate_for(Approvals(edited={"args": ["--edited"]}))
    job_id = gate.invoke("launch_job", ("job.py",), {"args": ["--original"]})
    gate.ctx.jobs.wait(job_id, timeout=30)
    assert "hello ['--edited']" in gate.invoke("job_logs", (job_id,), {})


def test_unknown_ids_and_bad_arguments_are_tool_errors(gate_for):
    gate, _ = gate_for(Approvals())
    with pytest.raises(ToolError, match="unknown job id 'job-x'"):
        gate.invoke("job_status", ("job-x",), {})
    with pytest.raises(ToolError, match="leaves the workspace"):
        gate.invoke("launch_job", ("../job.py",), {})
    with pytest.raises(ToolError, match="secret 'NO_SUCH_TOKEN' is not set"):  # refused before asking
        gate.invoke("launch_job", ("job.py",), {"secrets": ["NO_SUCH_TOKEN"]})
    with pytest.raises(ToolError, match="secrets must be a list"):
        gate.invoke("launch_job", ("job.py",), {"secrets": "HF_TOKEN"})
    gate.ctx.jobs = None
    with pytest.raises(ToolError, match="no job manager"):
        gate.invoke("job_logs", ("job-x",), {})


def test_estimates():
    est = job_tools.estimate_launch
    hf = est(None, {"backend": "hf", "flavor": "a100-large", "timeout": 7200})
    assert hf["gpu_hours"] == 2.0 and hf["usd"] == 5.0 and "a100-large" in hf["summary"]
    assert est(None, {"backend": "hf", "flavor": "h200x8", "timeout": 1800})["gpu_hours"] == 4.0
    default = est(None, {"backend": "hf"})  # cpu-basic, assumed 2 h
    assert default["gpu_hours"] == 0 and "assumed" in default["summary"]
    assert est(None, {"backend": "hf", "flavor": "quantum-1"})["usd"] is None
    local = est(None, {"backend": "local", "gpus": 2})
    assert local == {
        "backend": "local",
        "gpus": 2,
        "hours": 2.0,
        "gpu_hours": 4.0,
        "usd": 0.0,
        "summary": local["summary"],
    }
    assert "2 GPU" in local["summary"]
    assert (hf["backend"], hf["flavor"], hf["gpus"], hf["hours"]) == ("hf", "a100-large", 1, 2.0)


def test_hf_launch_through_the_tool_sets_a_default_timeout(gate_for, monkeypatch):
    gate, _ = gate_for(Approvals())
    seen = {}

    def fake_launch(script, **kwargs):
        seen.update(kwargs, script=script)
        return "job-fake"

    monkeypatch.setattr(gate.ctx.jobs, "launch", fake_launch)
    monkeypatch.setenv("MY_SECRET", "value-123")
    assert gate.invoke("launch_job", ("job.py",), {"backend": "hf", "secrets": ["MY_SECRET"]}) == "job-fake"
    assert seen["timeout"] == 7200 and seen["secrets"] == {"MY_SECRET": "value-123"}
    with pytest.raises(ToolError, match="NOT_SET_ANYWHERE"):
        gate.invoke("launch_job", ("job.py",), {"backend": "hf", "secrets": ["NOT_SET_ANYWHERE"]})


def test_tools_are_registered_with_schemas():
    from intern_tui.tools.base import REGISTRY

    spec = REGISTRY["launch_job"]
    assert spec.sensitive and spec.estimate is job_tools.estimate_launch
    assert spec.inputs["script"]["type"] == "string" and spec.inputs["backend"]["nullable"]
    assert "a10g-large" in spec.inputs["flavor"]["description"]
    assert not REGISTRY["job_status"].sensitive and not REGISTRY["cancel_job"].sensitive
