"""Benchmark evaluation: marked log lines → eval_result events → the table the agent and the UI show; the
evaluate tool running the eval template as a real job on a tiny model."""

from __future__ import annotations

import importlib.util
import json

import pytest

from intern_tui.bus import Emitter, EventBus
from intern_tui.events import Event
from intern_tui.jobs import JobManager
from intern_tui.telemetry.evals import EVAL_MARKER, emit_marked_line, parse_eval_line, results_table
from intern_tui.templates import TEMPLATE_DIR, install
from intern_tui.tools import ToolContext, ToolGate
from intern_tui.tools.base import ToolError
from intern_tui.tools.evaluate import model_label
from intern_tui.tui.state import SessionModel


def line(**record) -> str:
    return f"{EVAL_MARKER} {json.dumps(record)}"


def test_marked_lines_become_events_and_broken_ones_are_swallowed():
    emitted: list[tuple[str, dict]] = []
    emit = lambda kind, payload: emitted.append((kind, payload))  # noqa: E731
    ok = line(benchmark="tiny-arith", label="job-1", score=0.625, metric="accuracy", n=40, base=0)
    assert emit_marked_line(emit, ok, "job-1")
    assert emit_marked_line(emit, EVAL_MARKER + " {not json", "job-1")  # ours, broken: not shown, no event
    assert emit_marked_line(emit, '@@intern-tui-trackio@@ {"project": "p", "command": "trackio show"}', "j")
    assert not emit_marked_line(emit, "an ordinary line", "job-1")
    assert [k for k, _ in emitted] == ["eval_result", "tracking"]
    payload = emitted[0][1]
    assert payload["score"] == 0.625 and payload["base"] is False and payload["job_id"] == "job-1"
    assert parse_eval_line(line(score=1), "j") is None  # no benchmark: not a result


def test_labels_name_workspace_checkpoints_by_their_job():
    assert model_label("jobs/job-1a2b3c4d/output") == "job-1a2b3c4d"
    assert model_label("jobs/job-1a2b3c4d/output/tiny-init") == "job-1a2b3c4d/tiny-init"
    assert model_label("Qwen/Qwen3-1.7B-Base") == "Qwen/Qwen3-1.7B-Base"


RESULTS = [
    {
        "benchmark": "tiny-arith",
        "metric": "accuracy",
        "label": "job-1/tiny-init",
        "score": 0.125,
        "base": True,
    },
    {"benchmark": "tiny-arith", "metric": "accuracy", "label": "job-1", "score": 0.5, "base": False},
    {"benchmark": "tiny-arith", "metric": "accuracy", "label": "job-2", "score": 0.1, "base": False},
    {"benchmark": "tiny-arith", "metric": "accuracy", "label": "job-1", "score": 0.625, "base": False},
    {"benchmark": "gsm8k", "metric": "accuracy", "label": "job-2", "score": 0.31, "base": False},
]


def test_the_table_puts_the_base_beside_each_model_and_keeps_the_latest_score():
    tiny, gsm = results_table(RESULTS)
    assert tiny["base"]["score"] == 0.125
    assert [(m["label"], m["score"], m["vs_base"]) for m in tiny["models"]] == [
        ("job-1", 0.625, 0.5),
        ("job-2", 0.1, -0.025),
    ]
    assert gsm["base"] is None and "vs_base" not in gsm["models"][0]


def test_the_reducer_keeps_eval_results_in_time():
    model = SessionModel(live=False)
    model.apply(Event("s", 1, 0.0, "session_started", None, {"task": "t", "model": "m"}))
    for seq, payload in enumerate(RESULTS[:2], start=2):
        changed = model.apply(Event("s", seq, 1.0, "eval_result", 3, {**payload, "job_id": "job-e", "n": 40}))
        assert "evals" in changed
    assert len(model.evals_at()) == 2 and len(model.evals_at(2)) == 1
    assert (
        model.stream[-1].kind == "eval"
        and model.stream[-1].text == "eval tiny-arith: job-1 accuracy 0.5 on 40 items"
    )


async def test_the_evals_pane_shows_base_and_gains():
    from textual.app import App
    from textual.widgets import DataTable

    from intern_tui.tui.widgets.evals import EvalsPane

    class Host(App):
        def compose(self):
            yield EvalsPane()

    app = Host()
    async with app.run_test(size=(90, 20)) as pilot:
        pane = app.query_one(EvalsPane)
        assert app.query_one("#evals-empty").display
        pane.show(RESULTS)
        await pilot.pause()
        table = app.query_one(DataTable)
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
        assert rows[0][0] == "tiny-arith · accuracy" and rows[1][:2] == ["1/tiny-init (base)", "0.125"]
        assert rows[2] == ["1", "0.625", "0.125", "+0.500", ""] and rows[3][3] == "-0.025"
        assert rows[4][0] == "gsm8k · accuracy" and rows[5][:4] == ["2", "0.310", "—", "—"]


def test_unknown_benchmarks_and_missing_models_are_one_clear_error(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    approvals = ApproveAll()
    ctx = ToolContext(session_id="s", workspace=ws, emitter=Emitter(EventBus(), "s"), approvals=approvals)
    gate = ToolGate(ctx)
    with pytest.raises(ToolError, match="unknown benchmark 'mmlu-pro'; known: tiny-arith, gsm8k"):
        gate.invoke("evaluate", ("jobs/job-00000000/output", "mmlu-pro"), {})
    with pytest.raises(ToolError, match="no model at 'jobs/job-00000000/output'"):
        gate.invoke("evaluate", ("jobs/job-00000000/output", "tiny-arith"), {})
    with pytest.raises(ToolError, match="limit must be a whole number"):
        gate.invoke("evaluate", ("Qwen/Qwen3-1.7B-Base", "gsm8k"), {"limit": 0})
    with pytest.raises(ToolError, match="bundled benchmark"):
        gate.invoke("evaluate", ("Qwen/Qwen3-1.7B-Base", "tiny-arith"), {"backend": "hf"})
    assert approvals.requests == []  # refused before anyone was asked


class ApproveAll:
    def __init__(self):
        self.requests = []

    def request(self, tool, arguments, estimate, pinned=None):
        from intern_tui.agent.approvals import Decision

        self.requests.append((tool, arguments, estimate))
        return Decision("approved", "approve")


def build_tiny_model(path) -> None:
    """The untrained tiny Llama the templates build (loaded from the SFT template itself)."""
    spec = importlib.util.spec_from_file_location("train_sft_template", TEMPLATE_DIR / "train_sft.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    texts = [r["messages"][1]["content"] for r in map(json.loads, (TEMPLATE_DIR / "data/sft.jsonl").open())]
    module.build_tiny(texts, path)


@pytest.mark.slow
def test_evaluate_runs_the_template_as_a_job_and_the_scores_come_back(tmp_path):
    ws = tmp_path / "ws"
    install(ws / "templates")
    build_tiny_model(ws / "models" / "tiny")
    bus = EventBus()
    sub = bus.subscribe("test")
    emitter = Emitter(bus, "s1")
    approvals = ApproveAll()
    manager = JobManager(ws, emitter, poll_interval=0.05, hold_seconds=0.1)
    ctx = ToolContext(session_id="s1", workspace=ws, emitter=emitter, approvals=approvals, jobs=manager)
    gate = ToolGate(ctx)
    job_id = gate.invoke("evaluate", ("models/tiny", "tiny-arith"), {"limit": 8, "baseline": "models/tiny"})
    [(tool, arguments, estimate)] = approvals.requests
    assert tool == "evaluate" and estimate["summary"].startswith("evaluate on tiny-arith: local job")
    status = manager.wait(job_id, timeout=180)
    assert status["status"] == "completed", manager.logs(job_id, 30)
    results = [e.payload for e in sub.drain() if e.kind == "eval_result"]
    assert [(r["label"], r["base"], r["n"]) for r in results] == [
        ("models/tiny", True, 8),
        ("models/tiny", False, 8),
    ]
    assert results[0]["score"] == results[1]["score"]  # the same model scored twice agrees with itself
    assert 0.0 <= results[0]["score"] <= 1.0 and results[0]["engine"] == "bundled"
    table = gate.invoke("eval_results", (), {})
    assert table["pending"] == [] and table["table"][0]["base"]["n"] == 8
    assert EVAL_MARKER not in "\n".join(
        e.payload.get("lines", [""])[0] for e in sub.drain() if e.kind == "job_log"
    )
    assert json.loads((ws / "evals" / "in_use.json").read_text()) == ["tiny-arith"]
