"""The TUI as a client of a session process: attach with history, steer (approve, cancel a job) over the
socket, quit by detaching (the session goes on) or stopping it, and new sessions started from the TUI
running in their own process. Real session processes (`python -m intern_tui.host`), real Textual app."""

from __future__ import annotations

import os
import signal

import pytest
from helpers import stream_text, toast_texts, until, wait_for, write_policy
from test_host import LAUNCH, cli, detach, events, status

from intern_tui.agent.session import Runtime, SessionOptions
from intern_tui.host import live_host
from intern_tui.tui.app import InternApp
from intern_tui.tui.screens.dashboard import DashboardScreen
from intern_tui.tui.screens.modals import ConfirmModal, QuitModal
from intern_tui.tui.screens.overview import OverviewScreen


@pytest.fixture
def stop_all(home):
    started: list[str] = []
    yield started
    for sid in started:
        info = live_host(home, sid)
        if info:
            os.kill(info["pid"], signal.SIGKILL)


@pytest.fixture
def rt(home):
    runtime = Runtime.open(home)
    yield runtime
    runtime.close()


def waiting_session(home, tmp_path, stop_all) -> str:
    sid = detach(home, tmp_path, LAUNCH)
    stop_all.append(sid)
    wait_for(lambda: status(home, sid) == "waiting", timeout=90)  # the launch waits for a person
    return sid


async def attached(pilot, app):
    await until(pilot, lambda: app.client is not None and isinstance(app.screen, DashboardScreen))
    await until(pilot, lambda: app.screen.ready)


async def test_attach_shows_the_history_approves_and_cancels_a_job_over_the_socket(
    home, tmp_path, rt, stop_all
):
    sid = waiting_session(home, tmp_path, stop_all)
    app = InternApp(rt, attach_id=sid)
    async with app.run_test(size=(140, 44)) as pilot:
        await attached(pilot, app)
        await until(pilot, lambda: "write_file('t.py'" in stream_text(app.screen))  # step 1, from the store
        await until(pilot, lambda: app.model.pending_approvals())
        await pilot.press("a")  # the launch is approved by the session process, which runs it
        await until(pilot, lambda: any(j.status == "running" for j in app.model.jobs.values()))
        await until(
            pilot, lambda: "job ran" in "".join(line for j in app.model.jobs.values() for _, line in j.log)
        )
        await pilot.press("k")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await until(pilot, lambda: app.client.status == "done", frames=3000)
        await pilot.press("q")  # the session has ended: nothing to ask
        await until(pilot, lambda: not app.is_running)
    decided = events(home, sid, ["approval_decided"])
    assert [e.payload["decision"] for e in decided] == ["approve"]
    (finished,) = events(home, sid, ["job_finished"])
    assert finished.payload["status"] == "canceled"
    redirected = [e.payload["text"] for e in events(home, sid, ["redirected"])]
    assert any("canceled job" in t for t in redirected)  # the agent was told


async def test_quitting_detaches_by_default_and_a_second_window_can_stop_the_session(
    home, tmp_path, rt, stop_all
):
    sid = waiting_session(home, tmp_path, stop_all)
    app = InternApp(rt, attach_id=sid)
    async with app.run_test(size=(120, 40)) as pilot:
        await attached(pilot, app)
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, QuitModal))
        await pilot.press("enter")  # the default: detach
        await until(pilot, lambda: not app.is_running)
    assert "goes on" in app.exit_message and f"intern-tui attach {sid}" in app.exit_message
    assert live_host(home, sid) and status(home, sid) == "waiting"  # still there, still waiting

    again = InternApp(rt, attach_id=sid)
    async with again.run_test(size=(120, 40)) as pilot:
        await attached(pilot, again)
        await until(pilot, lambda: again.model.pending_approvals())  # the same request, from the history
        await pilot.press("q")
        await until(pilot, lambda: isinstance(again.screen, QuitModal))
        await pilot.press("s")
        await until(pilot, lambda: not again.is_running, frames=3000)
    wait_for(lambda: status(home, sid) == "interrupted")
    assert f"intern-tui resume {sid}" in again.exit_message
    wait_for(lambda: live_host(home, sid) is None)


async def test_a_session_started_from_the_tui_runs_in_its_own_process(home, tmp_path, rt, stop_all):
    policy = write_policy(tmp_path / "p.jsonl", LAUNCH)
    options = SessionOptions(task="own process", model=policy, approve="ask")
    app = InternApp(rt, options=options, own_process=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await attached(pilot, app)
        sid = app.client.session_id
        stop_all.append(sid)
        info = live_host(home, sid)
        assert info and info["pid"] != os.getpid()  # the agent is not in this process
        await until(pilot, lambda: app.model.pending_approvals())
        await pilot.press("q", "enter")  # detach
        await until(pilot, lambda: not app.is_running)
    assert live_host(home, sid) and status(home, sid) == "waiting"
    listed = cli("sessions", "list").stdout
    assert sid in listed


def test_a_paused_headless_session_exits_cleanly_on_sigterm_and_stays_resumable(home, tmp_path):
    import subprocess
    import sys

    from helpers import write_config

    write_config(home, "[agent]\npause_on_alert = true\n")
    turns = [
        ("Write.", "write_file('nan.py', \"print(\\\"{'loss': nan, 'epoch': 1.0}\\\", flush=True)\\n\")"),
        ("Launch.", "job = launch_job('nan.py')"),
        (
            "Wait.",
            "import time\nwhile job_status(job)['status'] == 'running':\n    time.sleep(0.2)\nprint('job over')",
        ),
        ("Next.", "print('after the alert')"),
        ("Done.", "final_answer('x')"),
    ]
    model = write_policy(tmp_path / "p.jsonl", turns)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "intern_tui",
            "run",
            "--headless",
            "--approve",
            "all",
            "--model",
            model,
            "nan",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        from intern_tui.store import open_store
        from intern_tui.store.queries import list_sessions

        def paused():
            conn = open_store(home).connect()
            try:
                rows = list_sessions(conn)
            finally:
                conn.close()
            return rows and rows[0]["status"] == "paused" and rows[0]["id"]

        sid = wait_for(paused, timeout=120)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert f"intern-tui resume {sid}" in err
    assert status(home, sid) == "interrupted"
    assert "after the alert" not in out  # it never went past the pause
    kinds = [e.kind for e in events(home, sid)]
    assert "alert" in kinds and kinds[-1] == "session_ended"


async def test_the_overview_lists_live_sessions_approves_from_there_and_notifies(
    home, tmp_path, rt, stop_all
):
    first = waiting_session(home, tmp_path, stop_all)
    second = waiting_session(home, tmp_path, stop_all)
    app = InternApp(rt, attach_id=first)
    async with app.run_test(size=(160, 44), notifications=True) as pilot:
        await attached(pilot, app)
        # the other session waits for a person: this window says so without being asked
        await until(
            pilot,
            lambda: any(second in t and "waits for you" in t for t in toast_texts(app)),
            frames=600,
        )
        await pilot.press("w")
        await until(pilot, lambda: isinstance(app.screen, OverviewScreen) and app.screen.loaded)
        overview = app.screen
        assert {r["id"] for r in overview.rows} == {first, second}
        for row in overview.rows:
            assert row["status"] == "waiting" and [p["tool"] for p in row["pending"]] == ["launch_job"]
        table = overview.query_one("#overview-table")
        table.move_cursor(row=table.get_row_index(second))
        await pilot.pause()
        detail = str(overview.query_one("#overview-detail").render())
        assert "launch_job" in detail and "script = t.py" in detail  # every argument of the request
        await pilot.press("a")  # approved over the second session's socket
        await until(pilot, lambda: any(j["status"] == "approve" for j in decisions(home, second)), frames=900)
        await until(pilot, lambda: not next(r for r in overview.rows if r["id"] == second)["pending"])
        assert decisions(home, first) == []  # the other one still waits
        await pilot.press("enter")  # this window now follows the second session
        await until(pilot, lambda: app.client is not None and app.client.session_id == second, frames=900)
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen))
        await pilot.press("q", "enter")  # detach
        await until(pilot, lambda: not app.is_running)
    assert live_host(home, first) is not None  # switching away detached, it stopped nothing


def decisions(home, sid):
    return [{"status": e.payload["decision"]} for e in events(home, sid, ["approval_decided"])]
