"""The contamination and base-model guards: the figures, and what they do to a launch's approval."""

from __future__ import annotations

import json
import threading

import pytest

from intern_tui.agent.approvals import ApprovalQueue
from intern_tui.bus import Emitter, EventBus
from intern_tui.jobs import JobManager
from intern_tui.templates import TEMPLATE_DIR, install
from intern_tui.tools import ToolContext, ToolGate
from intern_tui.tools.base import ApprovalDenied
from intern_tui.tools.benchmarks import in_use, mark_in_use, named_in
from intern_tui.tools.contamination import EvalIndex, overlap, tokens
from intern_tui.tools.launch_guard import launch_checks, task_base_models

ITEMS = [json.loads(line) for line in (TEMPLATE_DIR / "data" / "tiny_arith.jsonl").read_text().splitlines()]
SFT = [json.loads(line) for line in (TEMPLATE_DIR / "data" / "sft.jsonl").read_text().splitlines()]


def as_chat(item: dict) -> dict:
    answer = item["choices"][item["answer"]]
    return {
        "messages": [{"role": "user", "content": item["question"]}, {"role": "assistant", "content": answer}]
    }


def test_tokens_keep_maths_operators_and_drop_punctuation():
    assert tokens("What is 12 + 7? 12 + 7 = 19.") == ["what", "is", "12", "+", "7", "12", "+", "7", "=", "19"]


def test_13_gram_overlap_counts_contaminated_items_and_the_rows_holding_them():
    long_item = " ".join(f"word{i}" for i in range(30))  # 30 tokens: matched by any of its 13-grams
    texts = [long_item, "What is 40 + 34? 40 + 34 = 74.", "too short"]
    index = EvalIndex.build("b", texts)
    assert index.unchecked == 1 and set(index.grams) == {13, 10}
    rows = [
        {
            "text": "prefix " + " ".join(f"word{i}" for i in range(10, 23)) + " suffix"
        },  # one 13-gram of item 0
        {"text": " ".join(f"word{i}" for i in range(10, 22))},  # only 12 in a row: not enough
        {
            "messages": [
                {"role": "user", "content": "What is 40 + 34?"},
                {"role": "assistant", "content": "40 + 34 = 74."},
            ]
        },
        {"text": "What is 40 + 35? 40 + 35 = 75."},
    ]
    result = overlap(index, rows)
    assert result["items_checked"] == 2 and result["items_contaminated"] == 2 and result["fraction"] == 1.0
    assert result["train_row_indices"] == [0, 2]


def test_the_bundled_training_data_is_clean_and_mixing_in_eval_items_is_measured():
    index = EvalIndex.build("tiny-arith", [f"{i['question']} {i['choices'][i['answer']]}" for i in ITEMS])
    assert overlap(index, SFT)["items_contaminated"] == 0
    mixed = SFT + [as_chat(i) for i in ITEMS[:10]]
    result = overlap(index, mixed)
    assert result["items_contaminated"] == 10 and result["fraction"] == 0.25
    assert result["train_rows_overlapping"] == 10 and result["train_row_indices"][0] == len(SFT)


def test_benchmarks_in_use_come_from_the_task_and_from_evaluations(tmp_path):
    assert named_in("Make Qwen3 better at GSM8K and GPQA diamond") == ["gsm8k", "gpqa_diamond"]
    assert named_in("evaluate on the tiny-arith benchmark") == ["tiny-arith"]
    assert named_in("train a reward model") == []
    mark_in_use(tmp_path, "humaneval")
    mark_in_use(tmp_path, "humaneval")
    assert in_use(tmp_path, "…GSM8K…") == ["gsm8k", "humaneval"]


@pytest.fixture
def session(tmp_path):
    """A real gate, approval queue (policy chosen per test) and job manager over a workspace."""

    def make(policy: str, task: str):
        bus = EventBus()
        sub = bus.subscribe("test")
        emitter = Emitter(bus, "s1")
        ws = tmp_path / "ws"
        install(ws / "templates")
        (ws / "job.py").write_text("print('ran')\n")
        alerts: list[dict] = []
        manager = JobManager(ws, emitter, poll_interval=0.05, hold_seconds=0.1, on_alert=alerts.append)
        approvals = ApprovalQueue(emitter, policy)
        ctx = ToolContext(
            session_id="s1", workspace=ws, emitter=emitter, approvals=approvals, jobs=manager,
            settings={"task": task},
        )  # fmt: skip
        return ToolGate(ctx), sub, alerts

    return make


def write_mix(ws, rows) -> None:
    (ws / "data").mkdir(exist_ok=True)
    (ws / "data" / "mix.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_a_contaminated_launch_is_flagged_and_never_auto_approved_then_the_clean_copy_runs(session):
    gate, sub, _ = session("all", "Improve a tiny model; evaluate on tiny-arith")
    ws = gate.ctx.workspace
    write_mix(ws, SFT[:200] + [as_chat(i) for i in ITEMS[:12]])
    with pytest.raises(ApprovalDenied, match="contamination: 12 of 40 tiny-arith items"):
        gate.invoke("launch_job", ("job.py",), {"args": {"dataset": "data/mix.jsonl"}})
    events = sub.drain()
    [requested] = [e.payload for e in events if e.kind == "approval_requested"]
    [decided] = [e.payload for e in events if e.kind == "approval_decided"]
    assert requested["estimate"]["contamination"]["worst"] == 0.3
    assert "⚠ contamination" in requested["estimate"]["summary"] and requested["estimate"]["flags"]
    assert decided["status"] == "denied" and decided["decided_by"] == "guard"
    assert gate.ctx.jobs.job_ids() == []

    checked = gate.invoke(
        "check_contamination",
        ("data/mix.jsonl",),
        {"benchmark": "tiny-arith", "write_clean": "data/clean.jsonl"},
    )
    assert checked["flagged"] and checked["clean"] == {"path": "data/clean.jsonl", "rows": 200, "dropped": 12}
    job_id = gate.invoke("launch_job", ("job.py",), {"args": {"dataset": "data/clean.jsonl"}})
    assert job_id in gate.ctx.jobs.job_ids()
    [requested] = [e.payload for e in sub.drain() if e.kind == "approval_requested"]
    assert requested["estimate"]["contamination"]["worst"] == 0.0 and "flags" not in requested["estimate"]


def test_max_samples_limits_the_rows_checked(session):
    gate, _, _ = session("all", "…tiny-arith…")
    write_mix(gate.ctx.workspace, SFT[:200] + [as_chat(i) for i in ITEMS[:12]])
    checks = launch_checks(
        gate.ctx, {"script": "job.py", "args": {"dataset": "data/mix.jsonl", "max-samples": 200}}
    )
    assert checks["contamination"]["worst"] == 0.0 and "flags" not in checks


def test_a_human_may_approve_a_flagged_launch_and_the_agent_is_told(session):
    gate, sub, alerts = session("ask", "…tiny-arith…")
    write_mix(gate.ctx.workspace, [as_chat(i) for i in ITEMS])
    approvals = gate.ctx.approvals

    def approve_when_asked():
        while not approvals.pending():
            threading.Event().wait(0.01)
        approvals.decide(approvals.pending()[0].id, "approve")

    threading.Thread(target=approve_when_asked, daemon=True).start()
    job_id = gate.invoke("launch_job", ("job.py",), {"args": ["--dataset", "data/mix.jsonl"]})
    [alert] = alerts
    assert alert["job_id"] == job_id and alert["kind"] == "contamination"
    assert "launched despite a guard: contamination: 40 of 40" in alert["message"]
    assert any(e.kind == "alert" and e.payload["job_id"] == job_id for e in sub.drain())


def test_always_allow_does_not_wave_through_a_flagged_launch(session):
    gate, _, _ = session("ask", "…tiny-arith…")
    write_mix(gate.ctx.workspace, [as_chat(i) for i in ITEMS])
    approvals = gate.ctx.approvals
    approvals.always.add("launch_job")
    done = threading.Event()
    threading.Thread(
        target=lambda: (
            gate.invoke("launch_job", ("job.py",), {"args": ["--dataset", "data/mix.jsonl"]}),
            done.set(),
        ),
        daemon=True,
    ).start()
    for _ in range(500):
        if approvals.pending():
            break
        threading.Event().wait(0.01)
    assert approvals.pending() and not done.is_set()  # it waits for a human
    approvals.decide(approvals.pending()[0].id, "approve")
    assert done.wait(10)


def test_base_model_named_in_the_task():
    assert task_base_models("Improve Qwen/Qwen3-1.7B-Base on GSM8K (data: openai/gsm8k)", {}) == [
        "Qwen/Qwen3-1.7B-Base"
    ]
    assert task_base_models("Post-train the base model `tiny` on arithmetic", {}) == ["tiny"]
    assert task_base_models("train on dataset trl-lib/Capybara", {}) == []
    assert task_base_models("anything", {"base_model": "me/model"}) == ["me/model"]


def test_a_launch_from_another_model_is_flagged_and_checkpoints_are_traced_back(session):
    gate, _, _ = session("all", "Make Qwen/Qwen3-1.7B-Base better at GSM8K")
    ctx = gate.ctx
    drift = launch_checks(ctx, {"script": "job.py", "args": {"model": "Qwen/Qwen3-1.7B"}})
    assert drift["flags"] == [
        "base model: the task names Qwen/Qwen3-1.7B-Base, this launch trains from Qwen/Qwen3-1.7B "
        "(an instruct/chat variant: the task asks for the base model)"
    ]
    assert "flags" not in launch_checks(
        ctx, {"script": "job.py", "args": ["--model", "qwen/qwen3-1.7b-base"]}
    )
    for job, model in (
        ("job-aaaa1111", "Qwen/Qwen3-1.7B-Base"),
        ("job-bbbb2222", "Qwen/Qwen3-1.7B-Instruct"),
    ):
        (ctx.workspace / "jobs" / job / "output").mkdir(parents=True)
        meta = {"command": ["python", "train_sft.py", "--model", model]}
        (ctx.workspace / "jobs" / job / "job.json").write_text(json.dumps(meta))
    traced = launch_checks(ctx, {"script": "job.py", "args": {"model": "jobs/job-aaaa1111/output"}})
    assert "flags" not in traced
    assert traced["base_model"]["traced"] == {"jobs/job-aaaa1111/output": "Qwen/Qwen3-1.7B-Base"}
    assert (
        "Qwen/Qwen3-1.7B-Instruct"
        in launch_checks(ctx, {"script": "job.py", "args": {"model": "jobs/job-bbbb2222/output"}})["flags"][0]
    )
    with pytest.raises(ApprovalDenied, match="base model: the task names"):
        gate.invoke("launch_job", ("job.py",), {"args": {"model": "Qwen/Qwen3-1.7B"}})


def test_a_custom_script_is_read_for_its_data_files_and_model(session):
    gate, _, _ = session("all", "Improve Qwen/Qwen3-1.7B-Base; evaluate on tiny-arith")
    ws = gate.ctx.workspace
    write_mix(ws, [as_chat(i) for i in ITEMS[:4]])
    (ws / "custom.py").write_text("MODEL = 'Qwen/Qwen3-1.7B-Instruct'\nDATA = 'data/mix.jsonl'\n")
    checks = launch_checks(gate.ctx, {"script": "custom.py"})
    assert checks["contamination"]["data"] == ["data/mix.jsonl"]
    assert [f.split(":")[0] for f in checks["flags"]] == ["contamination", "base model"]
