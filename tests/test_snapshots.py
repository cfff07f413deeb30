"""Snapshots of the dashboard (a replay of the recorded demo, so every frame is deterministic) at a small
and a wide terminal size, a pane switched in the narrow layout, and the light theme."""

from pathlib import Path

import pytest
from textual.worker import WorkerState

from intern_tui.agent.session import Runtime
from intern_tui.store.transfer import import_events
from intern_tui.tui.app import InternApp
from intern_tui.tui.screens.replay import ReplayScreen

RECORDED = Path(__file__).resolve().parents[1] / "sessions" / "demo-recorded.events.jsonl"


@pytest.fixture
def replay_app(home):
    rt = Runtime.open(home)
    sid, _ = import_events(rt.store, RECORDED.read_text().splitlines())
    yield lambda **kw: InternApp(rt, replay_id=sid, **kw)
    rt.close()


def settle(*keys):
    async def run_before(pilot):
        for _ in range(500):
            await pilot.pause(0.02)
            if isinstance(pilot.app.screen, ReplayScreen):
                break
        for key in keys:
            await pilot.press(key)
        await pilot.pause(0.3)
        # Plots are drawn in worker threads (a resize or a debounce timer may start another): wait until
        # none is pending or running three checks in a row.
        quiet = 0
        for _ in range(100):
            await pilot.app.workers.wait_for_complete()
            await pilot.pause(0.1)
            busy = any(w.state in (WorkerState.PENDING, WorkerState.RUNNING) for w in pilot.app.workers)
            quiet = 0 if busy else quiet + 1
            if quiet >= 3:
                break
        pilot.app.clear_notifications()
        await pilot.pause(0.1)

    return run_before


def test_small_terminal(snap_compare, replay_app):
    assert snap_compare(replay_app(), terminal_size=(100, 30), run_before=settle())


def test_small_terminal_metrics_pane(snap_compare, replay_app):
    assert snap_compare(replay_app(), terminal_size=(100, 30), run_before=settle("m"))


def test_wide_terminal(snap_compare, replay_app):
    assert snap_compare(replay_app(), terminal_size=(180, 45), run_before=settle("f"))


def test_wide_terminal_light_theme_mid_replay(snap_compare, replay_app):
    assert snap_compare(
        replay_app(theme="intern-light"),
        terminal_size=(160, 40),
        run_before=settle("home", "right", "right", "right", "right", "right"),
    )


def test_wide_terminal_evals_pane(snap_compare, replay_app):
    """The demo's benchmark table: the trained model beside the untrained base, with the gain."""
    assert snap_compare(replay_app(), terminal_size=(160, 40), run_before=settle("v"))
