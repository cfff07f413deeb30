"""The real app under Pilot, driving a real scripted agent session."""

import json

from helpers import stream_text, until, write_policy
from textual.notifications import Notify

from intern_tui.agent.session import SessionOptions
from intern_tui.store.queries import session_detail
from intern_tui.tui.app import InternApp
from intern_tui.tui.screens.modals import ApprovalModal, HelpScreen
from intern_tui.tui.widgets.approvals import ApprovalQueue
from intern_tui.tui.widgets.files import FilesPane
from intern_tui.tui.widgets.header import StatusHeader
from intern_tui.tui.widgets.stream import AgentStream


def notices(messages) -> list[str]:
    """The texts of the notifications the app posted (seen through run_test's message_hook)."""
    return [m.notification.message for m in messages if isinstance(m, Notify)]


def make_app(runtime, tmp_path, turns, **kw):
    model = write_policy(tmp_path / "policy.jsonl", turns)
    return InternApp(runtime, options=SessionOptions(task=kw.pop("task", "tui test"), model=model, **kw))


async def test_stream_shows_steps_in_order_and_keys_decide_approvals(runtime, tmp_path, cp):
    app = make_app(
        runtime,
        tmp_path,
        [
            ("Write the script.", "print(write_file('train.py', 'lr = 1e-4\\n'))"),
            ("Approve me.", "print(spend(1))"),
            ("Deny me.", "print(spend(2))"),
            ("Edit me.", "print(spend(3))"),
            ("Always.", "print(spend(4))"),
            ("Auto now.", "print(spend(5))"),
            ("Done.", "final_answer('finished')"),
        ],
    )
    async with app.run_test(size=(140, 40)) as pilot:
        queue = lambda: app.dashboard.query_one(ApprovalQueue)  # noqa: E731
        await until(pilot, lambda: queue().items)
        text = stream_text(app.live_dashboard)
        assert text.index("Write the script.") < text.index("write_file") < text.index("Approve me.")
        assert queue().items[0].tool == "spend" and not queue().has_class("-empty")
        await pilot.press("a")
        await until(pilot, lambda: queue().items and queue().items[0].arguments == {"amount": 2})
        await pilot.press("d")
        await pilot.press(*"too costly")
        await pilot.press("enter")
        await until(pilot, lambda: queue().items and queue().items[0].arguments == {"amount": 3})
        await pilot.press("e")
        await pilot.pause(0.1)
        area = app.screen.query_one("#edit-args")
        area.text = json.dumps({"amount": 30})
        await pilot.press("ctrl+s")
        await until(pilot, lambda: queue().items and queue().items[0].arguments == {"amount": 4})
        await pilot.press("A")
        await until(pilot, lambda: app.model.status.current == "done")
        assert queue().has_class("-empty")
    assert [c for c in cp.calls if c[0] == "spend"] == [
        ("spend", 1),
        ("spend", 30),
        ("spend", 4),
        ("spend", 5),
    ]
    approvals = session_detail(runtime.store.connect(), app.supervisor.emitter.session_id)["approvals"]
    assert [(a["decision"], a["reason"]) for a in approvals] == [
        ("approve", None),
        ("deny", "too costly"),
        ("edit", None),
        ("always", None),
        ("auto", "always allowed: spend"),
    ]


async def test_enter_opens_the_full_request(runtime, tmp_path, cp):
    app = make_app(runtime, tmp_path, [("Spend.", "print(spend(7))"), ("Done.", "final_answer('x')")])
    async with app.run_test(size=(140, 40)) as pilot:
        await until(pilot, lambda: app.dashboard.query_one(ApprovalQueue).items)
        app.dashboard.query_one(ApprovalQueue).focus()
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ApprovalModal))
        await pilot.press("a")
        await until(pilot, lambda: app.model.status.current == "done")
    assert ("spend", 7) in cp.calls


async def test_pause_shows_paused_and_holds_steps_then_resume(runtime, tmp_path, cp):
    app = make_app(
        runtime,
        tmp_path,
        [("Hold.", "print(checkpoint('one'))"), ("Two.", "print('two')"), ("Done.", "final_answer('x')")],
    )
    async with app.run_test(size=(140, 40)) as pilot:
        await until(pilot, lambda: app.supervisor is not None)
        await until(pilot, lambda: cp.reached_now("one"))  # never block the event loop in a Pilot test
        await pilot.press("p")
        await until(pilot, lambda: app.model.status.current == "pausing")
        cp.release("one")
        await until(pilot, lambda: app.model.status.current == "paused")
        header = app.dashboard.query_one(StatusHeader)
        assert "PAUSED" in str(header.render())
        steps_before = app.model.step.current
        await pilot.pause(0.2)
        assert app.model.step.current == steps_before == 1
        await pilot.press("p")
        await until(pilot, lambda: app.model.status.current == "done")
        assert app.model.step.current == 3


async def test_redirect_from_the_input_reaches_the_agent(runtime, tmp_path, cp):
    app = make_app(runtime, tmp_path, [("Hold.", "print(checkpoint('one'))"), ("Next.", "final_answer('x')")])
    async with app.run_test(size=(140, 40)) as pilot:
        await until(pilot, lambda: app.supervisor is not None)
        await until(pilot, lambda: cp.reached_now("one"))  # never block the event loop in a Pilot test
        await pilot.press("r")
        await pilot.press(*"use DPO instead")
        await pilot.press("enter")
        await until(pilot, lambda: any(i.kind == "redirect" for i in app.model.stream))
        cp.release("one")
        await until(pilot, lambda: app.model.status.current == "done")
        assert "instruction delivered: use DPO instead" in stream_text(app.live_dashboard)
    last_messages = app.supervisor.agent.model.inner.seen_messages[1]
    assert "use DPO instead" in str(last_messages[-1].content)


async def test_double_x_interrupts_and_keeps_the_session(runtime, tmp_path, cp):
    app = make_app(runtime, tmp_path, [("Hold.", "print(checkpoint('one'))"), ("Never.", "print('no')")])
    messages = []
    async with app.run_test(size=(140, 40), message_hook=messages.append) as pilot:
        await until(pilot, lambda: app.supervisor is not None)
        await until(pilot, lambda: cp.reached_now("one"))  # never block the event loop in a Pilot test
        await pilot.press("x")  # one press only warns
        await until(pilot, lambda: any("press x again" in n for n in notices(messages)))
        assert not app.supervisor.cancelled.is_set()
        assert app.model.status.current == "running"
        await pilot.press("x")
        cp.release("one")
        await until(pilot, lambda: app.model.status.current == "interrupted")
    sid = app.supervisor.emitter.session_id
    assert session_detail(runtime.store.connect(), sid)["status"] == "interrupted"


async def test_diff_viewer_shows_the_chosen_versions(runtime, tmp_path):
    app = make_app(
        runtime,
        tmp_path,
        [
            ("v1", "print(write_file('t.py', 'a = 1\\nb = 2\\n'))"),
            ("v2", "print(edit_file('t.py', 'b = 2', 'b = 3'))"),
            ("v3", "print(edit_file('t.py', 'a = 1', 'a = 10'))"),
            ("Done.", "final_answer('x')"),
        ],
    )
    async with app.run_test(size=(140, 40)) as pilot:
        await until(pilot, lambda: app.model.status.current == "done")
        await pilot.press("f")
        pane = app.dashboard.query_one(FilesPane)
        await until(pilot, lambda: pane.current_diff() is not None)
        old, new = pane.current_diff()
        assert (old.version, new.version) == (2, 3)
        await pilot.press("comma")  # from v1 instead of v2
        old, new = pane.current_diff()
        assert (old.version, new.version) == (1, 3)
        from intern_tui.tui.widgets.files import unified_diff

        diff = unified_diff("t.py", old, new)
        assert "-a = 1" in diff and "+a = 10" in diff and "-b = 2" in diff and "+b = 3" in diff
        pane.set_versions("t.py", 1, 2)
        diff = unified_diff("t.py", *pane.current_diff())
        assert "+b = 3" in diff and "a = 10" not in diff
        await pilot.press("u")
        assert pane.mode == "side-by-side"


async def test_help_lists_remapped_keys_and_the_remap_works(runtime, tmp_path, cp):
    model = write_policy(
        tmp_path / "p.jsonl", [("Hold.", "print(checkpoint('one'))"), ("Done.", "final_answer('x')")]
    )
    app = InternApp(runtime, options=SessionOptions(task="t", model=model), keymap={"pause": "ctrl+k"})
    async with app.run_test(size=(140, 40)) as pilot:
        await until(pilot, lambda: app.supervisor is not None)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        rows = {r[2]: r[0] for r in app.screen.rows}
        assert rows["pause"] == "^k" and rows["redirect"] == "r" and rows["help"] == "?"
        await pilot.press("escape")
        await until(pilot, lambda: cp.reached_now("one"))  # never block the event loop in a Pilot test
        await pilot.press("ctrl+k")
        await until(pilot, lambda: app.model.status.current == "pausing")
        cp.release("one")
        await until(pilot, lambda: app.model.status.current == "paused")
        app.supervisor.resume()
        await until(pilot, lambda: app.model.status.current == "done")


async def test_theme_switching(runtime, tmp_path):
    model = write_policy(tmp_path / "p.jsonl", [("Done.", "final_answer('x')")])
    app = InternApp(runtime, options=SessionOptions(task="t", model=model), theme="intern-light")
    async with app.run_test(size=(120, 30)) as pilot:
        assert app.theme == "intern-light"
        assert {"intern-dark", "intern-light", "intern-contrast"} <= set(app.available_themes)
        app.theme = "intern-contrast"
        await pilot.pause(0.05)
        assert app.current_theme.background == "#000000"


async def test_narrow_terminal_switches_panes_with_focus_keys(runtime, tmp_path):
    model = write_policy(tmp_path / "p.jsonl", [("Done.", "final_answer('x')")])
    app = InternApp(runtime, options=SessionOptions(task="t", model=model))
    async with app.run_test(size=(100, 30)) as pilot:
        dash = app.dashboard
        assert dash.has_class("-narrow")
        assert dash.query_one("#right").region.width == 0 and dash.query_one("#left").region.width > 0
        await pilot.press("g")
        await pilot.pause(0.05)
        assert dash.has_class("-show-right") and dash.query_one("#left").region.width == 0
        await pilot.press("s")
        await pilot.pause(0.05)
        assert not dash.has_class("-show-right") and dash.query_one("#right").region.width == 0


async def test_stream_written_while_hidden_wraps_at_its_real_width(runtime, tmp_path, cp):
    long = "word " * 40
    app = make_app(
        runtime,
        tmp_path,
        [("Hold.", "print(checkpoint('one'))")]
        + [(f"Long thought number {i}: " + long, f"print('{long}')") for i in range(3)]
        + [("Done.", "final_answer('x')")],
    )
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: cp.reached_now("one"))
        await pilot.press("m")  # narrow layout: the metrics pane replaces the stream
        cp.release("one")
        await until(pilot, lambda: app.model.status.current == "done")
        await pilot.press("s")
        await pilot.pause(0.3)
        stream = app.dashboard.query_one(AgentStream)
        widths = [strip.cell_length for strip in stream.lines if "word word" in strip.text]
        assert widths and max(widths) > 60, widths  # wrapped at ~90 columns, not at the 40-column minimum
        text = stream_text(app.live_dashboard)
        assert text.count("Long thought number") == 3
        await pilot.resize_terminal(
            160, 40
        )  # wide layout: the stream gets another width, lines re-wrap to it
        await pilot.pause(0.3)
        width = stream.scrollable_content_region.width
        new = max(s.cell_length for s in stream.lines if "word word" in s.text)
        assert new != max(widths) and width - 10 <= new <= width


async def test_resume_in_the_tui_shows_the_earlier_steps_once(runtime, tmp_path, cp):
    from intern_tui.agent.session import start_session

    policy = write_policy(
        tmp_path / "p.jsonl",
        [
            ("First step thought.", "print('one')"),
            ("Hold.", "print(checkpoint('one'))"),
            ("Third.", "final_answer('x')"),
        ],
    )
    first = start_session(runtime, SessionOptions(task="resume me", model=policy))
    cp.wait_reached("one")  # a plain (non-Pilot) wait: no event loop here
    first.interrupt()
    cp.release("one")
    assert first.wait(30) and first.status == "interrupted"
    sid = first.emitter.session_id
    app = InternApp(runtime, resume_id=sid)
    async with app.run_test(size=(140, 40)) as pilot:
        await until(pilot, lambda: app.model.status.current == "done")
        await pilot.pause(0.2)
        text = stream_text(app.live_dashboard)
        assert text.count("First step thought.") == 1 and text.count("Third.") == 1
        assert "continuing:" in text and "TASK  resume me" in text
        seqs = [i.seq for i in app.model.stream]
        assert seqs == sorted(set(seqs))  # nothing applied twice


def test_abandon_ends_a_session_whose_step_will_not_finish(runtime, tmp_path, cp):
    from intern_tui.agent.session import start_session
    from intern_tui.store.queries import iter_events

    sup = start_session(
        runtime,
        SessionOptions(
            task="t",
            model=write_policy(
                tmp_path / "p.jsonl", [("Hold.", "print(checkpoint('one'))"), ("Next.", "print(2)")]
            ),
        ),
    )
    cp.wait_reached("one")
    sup.interrupt()
    assert sup.abandon("quit while a step was running")
    assert session_detail(runtime.store.connect(), sup.emitter.session_id)["status"] == "interrupted"
    cp.release("one")  # the step finishes after all: it must not end the session a second time
    assert sup.wait(30)
    runtime.writer.flush()
    ended = [e for e in iter_events(runtime.store.connect(), sup.emitter.session_id, kinds=["session_ended"])]
    assert len(ended) == 1 and ended[0].payload["status"] == "interrupted"


async def test_a_start_failure_returns_to_the_form_with_what_was_typed(runtime, tmp_path):
    from intern_tui.tui.screens.new_session import NewSessionScreen

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"thought": "ok", "code": "print(1)"}\nnot json\n')
    app = InternApp(runtime, options=SessionOptions(task="keep this task", model=f"script:{bad}"))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, NewSessionScreen))
        assert app.screen.query_one("#task").text == "keep this task"
        assert app.screen.query_one("#model").value == f"script:{bad}"


def test_the_stream_s_shared_markdown_parser_renders_as_rich_s_own():
    from rich.console import Console
    from rich.markdown import Markdown

    from intern_tui.tui.widgets.stream import StreamMarkdown

    text = "# Plan\n\nTry **DPO** with `beta=0.1`:\n\n- a\n- b\n\n```python\nx = 1\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
    console = Console(width=72, color_system="truecolor")
    assert console.render_lines(StreamMarkdown(text)) == console.render_lines(Markdown(text))
    assert (
        StreamMarkdown("one").markup == "one" and StreamMarkdown("two").parsed != StreamMarkdown("one").parsed
    )


async def test_the_session_browser_replays_resumes_and_forks_by_asking_the_app(runtime, tmp_path, cp):
    """The browser posts OpenReplay / ResumeSession / ForkSession; the App's session controller acts."""
    from intern_tui.agent.session import start_session
    from intern_tui.tui.screens.replay import ReplayScreen
    from intern_tui.tui.screens.sessions import ForkModal, SessionBrowser

    turns = [("One.", "print('one')"), ("Hold.", "print(checkpoint('held'))"), ("Done.", "final_answer('x')")]
    policy = write_policy(tmp_path / "p.jsonl", turns)
    first = start_session(runtime, SessionOptions(task="browse me", model=policy))
    cp.wait_reached("held")
    first.interrupt()
    cp.release("held")
    assert first.wait(30) and first.status == "interrupted"
    sid = first.session_id
    app = InternApp(runtime)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        app.action_sessions()
        await until(pilot, lambda: isinstance(app.screen, SessionBrowser) and app.screen.rows)
        await pilot.press("enter")  # replay
        await until(pilot, lambda: isinstance(app.screen, ReplayScreen))
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, SessionBrowser))
        await pilot.press("ctrl+f")  # fork: the modal, then enter starts it from step 1
        await until(pilot, lambda: isinstance(app.screen, ForkModal))
        app.screen.query_one("#fork-step").value = "1"
        await pilot.press("enter")
        await until(pilot, lambda: app.supervisor is not None, frames=1500)
        forked = app.supervisor
        assert forked.session_id != sid
        assert forked.wait(60)
        await until(pilot, lambda: not forked.running)
        app.action_sessions()
        await until(pilot, lambda: isinstance(app.screen, SessionBrowser) and len(app.screen.rows) == 2)
        table = app.screen.query_one("#browser-table")
        table.move_cursor(row=table.get_row_index(sid))
        await pilot.press("ctrl+r")  # resume the first one in this window
        await until(pilot, lambda: getattr(app.supervisor, "session_id", None) == sid, frames=1500)
        assert app.supervisor.wait(60)
    conn = runtime.store.connect()
    parent = [r[0] for r in conn.execute("SELECT parent_id FROM sessions WHERE id = ?", (forked.session_id,))]
    assert parent == [sid]
