"""Work that grows with the store never blocks the event loop: the session browser's list and delete,
the new-session form's model check and a resumed session's history run in workers while keys work."""

import threading

from helpers import stream_text, until, write_policy

from intern_tui.agent.session import SessionOptions, start_session
from intern_tui.errors import InternError
from intern_tui.tui.app import InternApp
from intern_tui.tui.screens.modals import HelpScreen
from intern_tui.tui.screens.new_session import NewSessionScreen
from intern_tui.tui.screens.sessions import SessionBrowser


def blocking(real, gate: threading.Event, entered: threading.Event):
    def wrapper(*a, **kw):
        entered.set()
        assert gate.wait(30), "the test never released the gate"
        return real(*a, **kw)

    return wrapper


def finished_session(runtime, tmp_path, task="browse me"):
    sup = start_session(
        runtime,
        SessionOptions(
            task=task, model=write_policy(tmp_path / "p.jsonl", [("Done.", "final_answer('ok')")])
        ),
    )
    assert sup.wait(30)
    runtime.writer.flush()
    return sup.emitter.session_id


async def test_the_session_browser_lists_and_deletes_in_workers(runtime, tmp_path, monkeypatch):
    import intern_tui.store.transfer as transfer
    import intern_tui.tui.screens.sessions as sessions

    sid = finished_session(runtime, tmp_path)
    gate, entered = threading.Event(), threading.Event()
    monkeypatch.setattr(sessions, "list_sessions", blocking(sessions.list_sessions, gate, entered))
    app = InternApp(runtime, replay_id="none-needed")  # a window with no agent; the browser on top
    async with app.run_test(size=(140, 40)) as pilot:
        browser = SessionBrowser(runtime.store)
        app.push_screen(browser)
        await until(pilot, entered.is_set)
        await pilot.press("s", "t")  # the list is still being read: typing works meanwhile
        assert browser.query_one("#browser-filter").value == "st"
        assert browser.rows == []
        gate.set()
        await until(pilot, lambda: [r["id"] for r in browser.rows] == [sid])
        # delete: the confirmation, then the deletion itself runs in a worker
        gate.clear()
        entered.clear()
        monkeypatch.setattr(transfer, "delete_session", blocking(transfer.delete_session, gate, entered))
        browser.query_one("#browser-filter").value = ""
        await pilot.pause()
        await pilot.press("ctrl+d")
        await pilot.pause()
        await pilot.press("y")
        await until(pilot, entered.is_set)
        await pilot.press("x")  # the deletion is running: keys still reach the screen
        assert browser.query_one("#browser-filter").value == "x"
        gate.set()
        await until(pilot, lambda: browser.rows == [])
    assert (
        not runtime.store.connect().execute("SELECT count(*) FROM sessions WHERE id=?", (sid,)).fetchone()[0]
    )


async def test_the_new_session_form_checks_the_model_in_a_worker(runtime, monkeypatch):
    import intern_tui.agent.models as models

    gate, entered = threading.Event(), threading.Event()

    def refuse(model, api_base=None, *, deep=True):
        raise InternError(f"unknown model {model!r}", hint="pick another")

    monkeypatch.setattr(models, "check_model", blocking(refuse, gate, entered))
    app = InternApp(runtime)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, NewSessionScreen))
        form = app.screen
        form.query_one("#task").text = "a task"
        form.query_one("#model").value = "nope/model"
        await pilot.press("ctrl+s")
        await until(pilot, entered.is_set)
        assert "checking the model" in str(form.query_one("#new-error").content)
        await pilot.press("end", "!")  # typing into the task while the check runs
        assert form.query_one("#task").text == "a task!"
        gate.set()
        await until(pilot, lambda: "unknown model 'nope/model'" in str(form.query_one("#new-error").content))
        assert app.screen is form  # refused: the form stays, with what was typed


async def test_a_resumed_sessions_history_is_folded_in_a_worker(runtime, tmp_path, monkeypatch, cp):
    import intern_tui.store.queries as queries

    policy = write_policy(
        tmp_path / "p.jsonl",
        [
            ("First step thought.", "print('one')"),
            ("Hold.", "print(checkpoint('one'))"),
            ("Third.", "final_answer('x')"),
        ],
    )
    first = start_session(runtime, SessionOptions(task="resume me", model=policy))
    cp.wait_reached("one")
    first.interrupt()
    cp.release("one")
    assert first.wait(30) and first.status == "interrupted"
    gate, entered = threading.Event(), threading.Event()
    monkeypatch.setattr(queries, "iter_history", blocking(queries.iter_history, gate, entered))
    app = InternApp(runtime, resume_id=first.emitter.session_id)
    async with app.run_test(size=(140, 40)) as pilot:
        await until(pilot, entered.is_set)
        await pilot.press("question_mark")  # the history is still being read: the help opens at once
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        gate.set()
        await until(pilot, lambda: app.model.status.current == "done")
        await pilot.pause(0.2)
        text = stream_text(app.live_dashboard)
        assert text.count("First step thought.") == 1 and text.count("Third.") == 1
        seqs = [i.seq for i in app.model.stream]
        assert seqs == sorted(set(seqs))  # nothing lost or applied twice while the pump waited
