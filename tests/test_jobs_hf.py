"""Hugging Face Jobs runner against a fake HfApi (the remote service is the one thing we may double).

The fake returns real `huggingface_hub.JobInfo` objects built from the reconstructed API shape in
tests/fixtures/http/hf_jobs_job_info.reconstructed.json, and replays its log from the start on every
request, as the server does.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
from helpers import running_store

from intern_tui.bus import Emitter
from intern_tui.jobs import JobManager, recover_jobs
from intern_tui.store.queries import iter_events
from intern_tui.tools.base import ToolError

SECRET = "swordfish-42-plain"  # not token-shaped: the redactor would not catch a leak of it
FAST = {"poll_interval": 0.05, "hold_seconds": 0.2, "hf_status_interval": 0.05}


class FakeHfApi:
    """Stands in for HfApi's Jobs methods: records calls, walks through `stages` on each inspect_job."""

    def __init__(self, fixtures_dir, stages, log_lines, message=None):
        self.info = json.loads((fixtures_dir / "http" / "hf_jobs_job_info.reconstructed.json").read_text())
        self.stages = list(stages)
        self.log_lines = list(log_lines)
        self.message = message
        self.calls: list[tuple[str, dict]] = []
        self.canceled = threading.Event()
        self._lock = threading.Lock()

    def _job_info(self, stage):
        from huggingface_hub import JobInfo

        return JobInfo(**{**self.info, "status": {"stage": stage, "message": self.message}})

    def run_uv_job(self, script, **kwargs):
        self.calls.append(("run_uv_job", {"script": script, **kwargs}))
        return self._job_info("SCHEDULING")

    def inspect_job(self, *, job_id, namespace=None):
        self.calls.append(("inspect_job", {"job_id": job_id, "namespace": namespace}))
        with self._lock:
            if self.canceled.is_set():
                return self._job_info("CANCELED")
            stage = self.stages.pop(0) if len(self.stages) > 1 else self.stages[0]
        return self._job_info(stage)

    def fetch_job_logs(self, *, job_id, namespace=None, follow=False, tail=None):
        self.calls.append(("fetch_job_logs", {"job_id": job_id, "namespace": namespace, "follow": follow}))
        yield from list(self.log_lines)

    def cancel_job(self, *, job_id, namespace=None):
        self.calls.append(("cancel_job", {"job_id": job_id, "namespace": namespace}))
        self.canceled.set()


LOG = [
    "Installed 42 packages in 1.2s",
    "\r  0%|          | 0/20\r 50%|#####     | 10/20",
    "{'loss': '2.5', 'epoch': '0.5'}",
    '@@intern-tui-metric@@ {"step": 10, "loss": 2.5, "epoch": 0.5}',
    "{'loss': '1.5', 'epoch': '1'}",
    '@@intern-tui-metric@@ {"step": 20, "loss": 1.5, "epoch": 1.0}',
    '{"summary": "sft", "steps": 20, "final_loss": 1.5}',
]


@pytest.fixture
def session(home, tmp_path):
    with running_store(home) as (store, bus, writer):
        emitter = Emitter(bus, "s1")
        emitter.emit("session_started", {"task": "hf", "model": "script:x"})
        ws = tmp_path / "ws"
        ws.mkdir()
        (ws / "train_sft.py").write_text("# /// script\n# dependencies = ['trl']\n# ///\nprint('hi')\n")
        yield store, writer, emitter, ws


def stored(store, writer, kind=None):
    writer.flush()
    conn = store.connect()
    try:
        return list(iter_events(conn, "s1", kinds=[kind] if kind else None))
    finally:
        conn.close()


def test_hf_job_runs_streams_logs_and_metrics_and_keeps_secrets_out(session, fixtures_dir):
    store, writer, emitter, ws = session
    api = FakeHfApi(fixtures_dir, ["SCHEDULING", "RUNNING", "RUNNING", "RUNNING", "COMPLETED"], LOG)
    manager = JobManager(ws, emitter, hf_api=api, **FAST)
    job_id = manager.launch(
        "train_sft.py",
        backend="hf",
        args={"model": "Qwen/Qwen3-0.6B"},
        env={"WANDB_MODE": "offline"},
        flavor="a10g-small",
        timeout=3600,
        secrets={"WANDB_API_KEY": SECRET},
    )
    status = manager.wait(job_id, timeout=30)
    assert status["status"] == "completed" and status["exit_code"] == 0
    assert status["remote_id"] == "687fb701029421ae5549d998"
    assert status["url"] == "https://huggingface.co/jobs/lhoestq/687fb701029421ae5549d998"

    (name, run), *rest = api.calls
    assert name == "run_uv_job"
    assert run["script"] == str(ws / "train_sft.py")
    assert run["script_args"] == ["--model", "Qwen/Qwen3-0.6B"]
    assert run["flavor"] == "a10g-small" and run["timeout"] == 3600
    assert run["secrets"] == {"WANDB_API_KEY": SECRET}
    assert SECRET not in json.dumps(run["env"]) and run["env"]["INTERN_TUI_METRICS_STDOUT"] == "1"
    assert all(c[1].get("namespace") == "lhoestq" for c in rest)  # no whoami round trip per call

    events = stored(store, writer)
    assert not any(SECRET in e.payload_json for e in events)
    started = [e.payload for e in events if e.kind == "job_started"][0]
    assert (started["backend"], started["remote_id"], started["flavor"]) == (
        "hf", "687fb701029421ae5549d998", "cpu-basic",
    )  # fmt: skip
    lines = [ln for e in events if e.kind == "job_log" for ln in e.payload["lines"]]
    assert lines[0] == "Installed 42 packages in 1.2s" and lines[1] == " 50%|#####     | 10/20"
    # replayed streams did not duplicate anything; the metric records are not shown as output
    assert lines[2:] == [ln for ln in LOG[2:] if not ln.startswith("@@intern-tui-metric@@")]
    metrics = [e.payload for e in events if e.kind == "job_metric"]
    assert [(m["step"], m["source"], m["values"]["loss"]) for m in metrics] == [
        (10, "jsonl", 2.5),
        (20, "jsonl", 1.5),
    ]
    finished = [e.payload for e in events if e.kind == "job_finished"]
    assert [(f["status"], f["exit_code"]) for f in finished] == [("completed", 0)]
    conn = store.connect()
    assert conn.execute("SELECT backend, status, remote_id FROM jobs").fetchone() == (
        "hf", "completed", "687fb701029421ae5549d998",
    )  # fmt: skip
    conn.close()


def test_hf_job_error_is_reported_with_the_server_message(session, fixtures_dir):
    _, _, emitter, ws = session
    api = FakeHfApi(
        fixtures_dir, ["RUNNING", "ERROR"], ["Traceback ...", "ValueError: bad"], message="exit 1"
    )
    manager = JobManager(ws, emitter, hf_api=api, **FAST)
    job_id = manager.launch("train_sft.py", backend="hf")
    status = manager.wait(job_id, timeout=30)
    assert status["status"] == "failed" and "exit 1" in status["error"]
    assert manager.logs(job_id).splitlines()[-1] == "ValueError: bad"
    assert api.calls[0][1]["flavor"] == "cpu-basic"


def test_hf_cancel(session, fixtures_dir):
    store, writer, emitter, ws = session
    api = FakeHfApi(fixtures_dir, ["RUNNING"], ["working"])
    manager = JobManager(ws, emitter, hf_api=api, **FAST)
    job_id = manager.launch("train_sft.py", backend="hf")
    status = manager.cancel(job_id)
    assert status["status"] == "canceled"
    assert ("cancel_job", {"job_id": "687fb701029421ae5549d998", "namespace": "lhoestq"}) in api.calls
    assert [e.payload["status"] for e in stored(store, writer, "job_finished")] == ["canceled"]


def test_hf_reattach_resumes_the_log_without_duplicates(session, fixtures_dir):
    store, writer, emitter, ws = session
    api = FakeHfApi(fixtures_dir, ["RUNNING"], LOG[:3])
    first = JobManager(ws, emitter, hf_api=api, **FAST)
    job_id = first.launch("train_sft.py", backend="hf")
    deadline = time.monotonic() + 10
    while len([e for e in stored(store, writer, "job_log") if e.payload["lines"]]) < 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    first.shutdown()
    time.sleep(0.2)

    api.log_lines = LOG  # more output arrived while we were away; the stream replays from the start
    api.stages = ["RUNNING", "COMPLETED"]
    second = JobManager(ws, emitter, hf_api=api, **FAST)
    writer.flush()
    conn = store.connect()
    assert recover_jobs(conn, "s1", second) == [job_id]
    conn.close()
    assert second.wait(job_id, timeout=30)["status"] == "completed"
    lines = [ln for e in stored(store, writer, "job_log") for ln in e.payload["lines"]]
    assert len(lines) == len(LOG) - 2 and lines[0] == LOG[0] and lines[-1] == LOG[-1]
    assert (ws / "jobs" / job_id / "log.txt").read_bytes().count(b"\n") == len(LOG)


def test_hf_without_network_or_token_is_one_clear_error(session):
    _, _, emitter, ws = session
    manager = JobManager(ws, emitter, **FAST)  # the real HfApi path; tests run with HF_HUB_OFFLINE=1
    with pytest.raises(ToolError, match="offline mode"):
        manager.launch("train_sft.py", backend="hf")
    assert manager.job_ids() == []


def test_hf_http_errors_become_actionable_messages(session, fixtures_dir):
    _, _, emitter, ws = session

    class Response:
        status_code = 402

    class PaymentRequired(Exception):
        response = Response()

    api = FakeHfApi(fixtures_dir, ["RUNNING"], [])

    def refuse(script, **kwargs):
        raise PaymentRequired("Payment Required for url: https://huggingface.co/api/jobs/me")

    api.run_uv_job = refuse
    manager = JobManager(ws, emitter, hf_api=api, **FAST)
    with pytest.raises(ToolError, match="paid plan"):
        manager.launch("train_sft.py", backend="hf")


def test_hf_billing_namespace_from_config_and_per_launch(session, fixtures_dir):
    store, writer, emitter, ws = session
    api = FakeHfApi(fixtures_dir, ["COMPLETED"], LOG)
    manager = JobManager(ws, emitter, hf_api=api, hf_namespace="my-lab", **FAST)
    first = manager.launch("train_sft.py", backend="hf")
    manager.wait(first, timeout=30)
    second = manager.launch("train_sft.py", backend="hf", namespace="other-org")
    assert manager.wait(second, timeout=30)["namespace"] == "other-org"
    runs = [c[1] for c in api.calls if c[0] == "run_uv_job"]
    assert [r["namespace"] for r in runs] == ["my-lab", "other-org"]
    follow = {c[1]["namespace"] for c in api.calls if c[0] != "run_uv_job"}
    assert follow == {"my-lab", "other-org"}  # status and logs are asked in the billed namespace
    started = [e.payload for e in stored(store, writer, "job_started")]
    assert [s["namespace"] for s in started] == ["my-lab", "other-org"]
    estimate = manager.estimate({"backend": "hf", "flavor": "a10g-large", "timeout": 3600})
    assert estimate["usd"] == 1.5 and "billed to my-lab" in estimate["summary"]
    with pytest.raises(ToolError, match="namespace= is the HF Jobs billing namespace"):
        manager.launch("train_sft.py", namespace="my-lab")  # local


@pytest.mark.parametrize(
    "status, text",
    [
        (402, "Payment Required for url: https://huggingface.co/api/jobs/my-lab"),
        (429, "You have exceeded your monthly GPU quota for namespace my-lab"),
    ],  # fmt: skip
)
def test_hf_payment_refusal_stops_and_asks(session, fixtures_dir, status, text):
    store, writer, emitter, ws = session

    class Response:
        status_code = status

    class HfHubHTTPError(Exception):
        response = Response()

    api = FakeHfApi(fixtures_dir, ["RUNNING"], [])

    def refuse(script, **kwargs):
        api.calls.append(("run_uv_job", kwargs))
        raise HfHubHTTPError(text)

    api.run_uv_job = refuse
    alerts = []
    manager = JobManager(ws, emitter, hf_api=api, hf_namespace="my-lab", on_alert=alerts.append, **FAST)
    with pytest.raises(ToolError, match="refused to bill namespace 'my-lab'.*ask the human") as err:
        manager.launch("train_sft.py", backend="hf", flavor="a100-large")
    assert "paid plan" in str(err.value) and "\n" not in str(err.value)
    assert [c[1]["namespace"] for c in api.calls] == ["my-lab"]  # tried once, in the namespace asked
    (job_id,) = {p["job_id"] for p in (e.payload for e in stored(store, writer, "job_started"))}
    finished = [e.payload for e in stored(store, writer, "job_finished")]
    assert [(f["job_id"], f["status"]) for f in finished] == [(job_id, "failed")]
    assert "refused to bill" in finished[0]["error"]
    assert [(a["kind"], a["severity"], a["pause"]) for a in alerts] == [("billing", "critical", True)]
    assert [e.payload["kind"] for e in stored(store, writer, "alert")] == ["billing"]
    conn = store.connect()
    assert conn.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone() == ("failed",)
    conn.close()
    # No switching namespace behind the human's back: from now on an HF launch is flagged, so even
    # `--approve all` leaves it to a person.
    from intern_tui.agent.approvals import ApprovalQueue
    from intern_tui.tools import ToolContext, ToolGate

    queue = ApprovalQueue(emitter, policy="all")
    gate = ToolGate(
        ToolContext(session_id="s1", workspace=ws, emitter=emitter, approvals=queue, jobs=manager)
    )
    with pytest.raises(
        Exception, match="flagged, so not approved automatically: billing: Hugging Face refused"
    ):
        gate.invoke("launch_job", ("train_sft.py",), {"backend": "hf", "namespace": "other-org"})
    assert len(api.calls) == 1


def test_hf_job_stopped_for_billing_while_running_raises_a_pausing_alert(session, fixtures_dir):
    store, writer, emitter, ws = session
    api = FakeHfApi(fixtures_dir, ["RUNNING", "ERROR"], LOG[:1], message="Insufficient credits: job stopped")
    alerts = []
    manager = JobManager(ws, emitter, hf_api=api, hf_namespace="my-lab", on_alert=alerts.append, **FAST)
    job = manager.launch("train_sft.py", backend="hf")
    status = manager.wait(job, timeout=30)
    assert status["status"] == "failed" and "billing in namespace 'my-lab'" in status["error"]
    assert [(a["kind"], a["pause"], a["job_id"]) for a in alerts] == [("billing", True, job)]
    assert [e.payload["kind"] for e in stored(store, writer, "alert")] == ["billing"]
    assert sum(c[0] == "run_uv_job" for c in api.calls) == 1  # not relaunched
    assert "refused to bill my-lab" in manager.estimate({"backend": "hf"})["flags"][0]
