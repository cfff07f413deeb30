"""Compare runs: the metrics pane overlays another session's job (read from the store) beside this one's."""

from __future__ import annotations

from pathlib import Path

from intern_tui.agent.session import Runtime
from intern_tui.bus import Emitter
from intern_tui.store.transfer import import_events
from intern_tui.tui.app import InternApp
from intern_tui.tui.screens.replay import ReplayScreen
from intern_tui.tui.widgets.compare import CompareModal, other_runs
from intern_tui.tui.widgets.metrics_pane import MetricsPane
from intern_tui.tui.widgets.telemetry import MetricsView

RECORDED = Path(__file__).resolve().parents[1] / "sessions" / "demo-recorded.events.jsonl"


def other_session(rt: Runtime) -> str:
    sid = rt.store.new_session_id()
    em = Emitter(rt.bus, sid)
    em.emit("session_started", {"task": "an earlier SFT run", "model": "script:x", "max_steps": 5})
    em.emit("job_started", {"job_id": "job-0ther000", "backend": "local", "script": "train_sft.py"})
    for step in range(1, 6):
        em.emit("job_metric", {"job_id": "job-0ther000", "step": step * 5, "values": {"loss": 6.0 - step}})
    em.emit("session_ended", {"status": "done"})
    rt.writer.flush()
    return sid


async def test_overlay_another_sessions_job_then_show_only_it(home):
    rt = Runtime.open(home)
    try:
        demo, _ = import_events(rt.store, RECORDED.read_text().splitlines())
        earlier = other_session(rt)
        conn = rt.store.connect()
        assert [r.key for r in other_runs(conn, demo)] == [f"{earlier}:job-0ther000"]
        conn.close()
        app = InternApp(rt, replay_id=demo)
        async with app.run_test(size=(160, 40)) as pilot:
            for _ in range(500):
                await pilot.pause(0.02)
                if isinstance(app.screen, ReplayScreen) and app.screen.loading_total is None:
                    break  # the whole session is loaded
            await pilot.press("m")
            await pilot.pause(0.2)
            view = app.screen.query_one(MetricsView)
            own = list(view.book.jobs())
            assert len(own) == 2  # SFT and GRPO (the eval job logs scores, not metrics)
            await pilot.press("c")
            await pilot.pause(0.2)
            modal = app.screen
            assert isinstance(modal, CompareModal) and len(modal.runs) == 3
            await pilot.press("end", "space", "enter")  # tick the other session's job
            await pilot.pause(0.3)
            key = f"{earlier}:job-0ther000"
            pane = view.query_one(MetricsPane)
            assert key in view.book.jobs() and pane.only is not None and key in pane.only
            pane.show_metric("loss")
            labels = [label for label, _, _ in pane._series("loss")]
            assert labels[-1] == key and own[0] in labels
            assert [v for _, v in zip(*view.book.series("loss")[key], strict=True)][-1] == 1.0

            view.compare({own[0], key})  # just two runs: this session's SFT against the earlier one
            assert [label for label, _, _ in pane._series("loss")] == [own[0], key]
            view.compare(set(own))  # back to this session only
            assert pane.only is None and key not in view.book.jobs()
    finally:
        rt.close()
