"""Snapshots of the dashboard (a replay of the recorded demo, so every frame is deterministic) at a small
and a wide terminal size, a pane switched in the narrow layout, and the light theme."""

import json
from pathlib import Path

import pytest
from textual.widgets import Input
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


def settle(*keys, seek: int | None = None):
    async def run_before(pilot):
        for _ in range(500):
            await pilot.pause(0.02)
            if isinstance(pilot.app.screen, ReplayScreen):
                break
        if seek is not None:
            await pilot.pause(0.3)
            pilot.app.screen.seek(seek)
            await pilot.pause(0.2)
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
        for field in pilot.app.screen.query(Input):  # a blinking cursor would make the picture a coin toss
            field.cursor_blink = False
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


# 80×24: the smallest terminal the dashboard is meant for (the README's promise): every view usable.
SMALL = (80, 24)


def test_80x24_dashboard(snap_compare, replay_app):
    assert snap_compare(replay_app(), terminal_size=SMALL, run_before=settle())


DIFF = """--- a/train_sft.py
+++ b/train_sft.py
@@ -10,3 +10,4 @@
 args = parse()
-lr = 1e-4
+lr = 5e-5
+warmup = 20
 train(args, lr)"""


def pending_launch_events() -> list[str]:
    """A session waiting on a flagged HF launch whose script changed since the last approval."""
    sid, ts = "261204-0900-ab12", 1796380000.0
    request = {
        "id": "ap-0001",
        "tool": "launch_job",
        "arguments": {
            "script": "train_sft.py",
            "backend": "hf",
            "flavor": "a100-large",
            "timeout": 7200,
            "args": {"max-steps": 40, "learning-rate": 5e-05, "output-dir": "outputs/sft-lr5e-5-warmup20"},
            "secrets": ["HF_TOKEN"],
            "env": {"WANDB_MODE": "offline", "TOKENIZERS_PARALLELISM": "false"},
        },
        "estimate": {
            "backend": "hf", "flavor": "a100-large", "gpus": 1, "hours": 2.0, "gpu_hours": 2.0, "usd": 5.0,
            "summary": "HF Jobs a100-large (~$2.50/h, 1 GPU) for up to 2 h: about $5.00",
            "flags": ["contamination: 12 of 40 tiny-arith items are in data/train_mix.jsonl"],
        },
        "pinned": {"sha256": "9f" * 32, "previous_sha256": "4a" * 32, "files": ["train_sft.py"], "diff": DIFF},
        "policy": "ask",
    }  # fmt: skip
    events = [
        ("session_started", None, {"task": "SFT a tiny model on the mix", "model": "script:p.jsonl",
                                   "max_steps": 40}),
        ("task", None, {"task": "SFT a tiny model on the mix"}),
        ("step_started", 1, {"step": 1, "max_steps": 40}),
        ("model_output", 1, {"text": "Thought: Launch again with a lower lr.", "thought": "Launch again with a lower lr."}),
        ("code_action", 1, {"code": "job = launch_job('train_sft.py', backend='hf', flavor='a100-large')"}),
        ("approval_requested", 1, request),
    ]  # fmt: skip
    return [
        json.dumps({"session_id": sid, "seq": i, "ts": ts + i, "kind": k, "step": step, "payload": p})
        for i, (k, step, p) in enumerate(events, 1)
    ]


@pytest.fixture
def approval_app(home):
    rt = Runtime.open(home)
    sid, _ = import_events(rt.store, pending_launch_events())
    yield lambda **kw: InternApp(rt, replay_id=sid, **kw)
    rt.close()


def test_80x24_approval_queue(snap_compare, approval_app):
    """The queue shows the tool, backend, GPUs, hours, dollars, the guard flag, every argument, the diff."""
    assert snap_compare(approval_app(), terminal_size=SMALL, run_before=settle())


def test_80x24_approval_detail(snap_compare, approval_app):
    assert snap_compare(approval_app(), terminal_size=SMALL, run_before=settle("enter"))


def test_160x48_approval_queue(snap_compare, approval_app):
    assert snap_compare(approval_app(), terminal_size=(160, 48), run_before=settle())


@pytest.fixture
def utc(monkeypatch):
    """The session browser's "started" column is local time: pin the zone so the snapshot is the same
    everywhere."""
    import time

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_80x24_session_browser(snap_compare, replay_app, utc):
    assert snap_compare(replay_app(), terminal_size=SMALL, run_before=settle("b"))
