"""The real app under Pilot against the local OpenAI-compatible server: live tokens and the thinking
indicator in the stream pane, retry countdowns, collapsed reasoning, `x x` aborting a call in flight, and
a header that keeps the model and the token meter whatever the mirror says."""

import pytest
from helpers import stream_text, until
from llm_helpers import QUICK, final_reply, step_reply
from llm_server import Hang, LLMServer, Reply, rate_limited

from intern_tui.agent.models import ModelSettings
from intern_tui.agent.session import SessionOptions
from intern_tui.tui.app import InternApp
from intern_tui.tui.state import SessionModel
from intern_tui.tui.widgets.header import StatusHeader
from intern_tui.tui.widgets.stream import LiveReply


@pytest.fixture(autouse=True)
def no_openai_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


@pytest.fixture
def server():
    with LLMServer() as s:
        yield s


def real_app(runtime, server, **settings):
    options = SessionOptions(
        task="make Qwen better at GSM8K",
        model=f"openai/{server.model}",
        api_base=server.base_url,
        approve="ask",
        settings=ModelSettings(**{**QUICK, **settings}),
    )
    return InternApp(runtime, options=options)


def live_text(app) -> str:
    widget = app.live_dashboard.query_one(LiveReply)
    return str(widget.render()) if widget.has_class("-active") else ""


async def test_tokens_stream_live_with_a_thinking_indicator_then_become_the_step(runtime, server):
    slow = Reply(step_reply(1).text, chunk_chars=3, chunk_delay=0.03, reasoning="Check the columns first.")
    server.push(slow, final_reply())
    app = real_app(runtime, server)
    async with app.run_test(size=(140, 40)) as pilot:
        await until(pilot, lambda: "Thought: Step 1" in live_text(app))
        shown = live_text(app)
        assert "model is thinking" in shown and " tok" in shown
        await until(pilot, lambda: app.model.status.current == "done")
        await pilot.pause(0.1)
        assert live_text(app) == ""  # the reply became stream items; the live area is gone
        text = stream_text(app.live_dashboard)
        assert "reasoning, 4 words (o: open the step)" in text
        assert text.index("reasoning, 4 words") < text.index("Step 1: check the data again.")
        assert "rows = [1, 2, 3]" in text


async def test_a_retry_wait_shows_a_countdown_and_a_line_in_the_stream(runtime, server):
    server.push(rate_limited(2), final_reply())
    app = real_app(runtime, server)
    async with app.run_test(size=(140, 40)) as pilot:
        await until(pilot, lambda: "model busy, retrying in" in live_text(app))
        assert "(1/8): rate limited (429)" in live_text(app)
        await until(pilot, lambda: app.model.status.current == "done")
        assert "model busy, retrying in 2 s (1/8): rate limited (429)" in stream_text(app.live_dashboard)


async def test_x_x_aborts_a_hung_model_call(runtime, server):
    server.push(Hang(120))
    app = real_app(runtime, server, request_timeout=300)
    async with app.run_test(size=(140, 40)) as pilot:
        await until(pilot, lambda: app.supervisor is not None and server.chat_requests())
        await until(pilot, lambda: "model is thinking" in live_text(app))
        await pilot.press("x", "x")
        await until(pilot, lambda: app.model.status.current == "interrupted")
        assert app.supervisor.status == "interrupted"
        await pilot.pause(0.1)
        assert live_text(app) == ""


@pytest.mark.parametrize("width", [80, 120, 200])
async def test_a_long_mirror_message_never_pushes_out_the_model_or_the_tokens(runtime, server, width):
    server.push(final_reply())
    app = real_app(runtime, server)
    async with app.run_test(size=(width, 30)) as pilot:
        await until(pilot, lambda: app.model.status.current == "done")
        header = app.live_dashboard.query_one(StatusHeader)
        header.extra = "mirror: push failed: 403 Forbidden: no write access to me/sessions " * 3
        app.pump()
        await pilot.pause()
        line = str(header.render())
        assert "openai/test-model" in line and "tok " in line and "cost unknown" in line
        assert len(line) <= width


def test_the_reducer_folds_model_events_live_and_in_replay():
    from intern_tui.events import Event
    from intern_tui.tui.glyphs import Glyphs
    from intern_tui.tui.widgets.header import token_meter
    from intern_tui.tui.widgets.stream import live_text

    def ev(seq, kind, payload, ts=100.0):
        return Event("s1", seq, ts + seq, kind, 1, payload)

    log = [
        ev(
            1,
            "session_started",
            {"task": "t", "model": "openai/m", "context_window": 32768, "context_window_source": "server"},
        ),
        ev(2, "model_call", {"attempt": 1, "prompt_tokens": 5000, "window": 32768}),
        ev(3, "model_delta", {"reasoning": "hmm " * 10, "tokens": 10}),
        ev(4, "model_delta", {"text": "Thought: look\n<code>\nprint(1)", "tokens": 25}),
        ev(
            5,
            "model_retry",
            {
                "attempt": 1,
                "max_attempts": 8,
                "wait_s": 40,
                "kind": "rate_limit",
                "reason": "rate limited (429)",
            },
        ),
        ev(
            6,
            "model_output",
            {"text": "Thought: look", "thought": "look", "reasoning": "hmm " * 10, "finish_reason": "length"},
        ),
        ev(
            7, "token_usage", {"input_tokens": 5000, "output_tokens": 20, "cost_usd": None, "estimated": True}
        ),
    ]
    live = SessionModel(live=True)
    live.apply_all(log[:4])
    assert live.live_call.text.endswith("print(1)") and live.live_call.reasoning_chars == 40
    shown = live_text(live.live_call, now=log[3].ts + 1, glyphs=Glyphs()).plain
    assert shown.startswith("● model is thinking · 3 s · 25 tok") and "print(1)" in shown
    live.apply(log[4])
    shown = live_text(live.live_call, now=log[4].ts + 10, glyphs=Glyphs()).plain
    assert shown == "⚠ model busy, retrying in 30 s (1/8): rate limited (429)"
    live.apply_all(log[5:])
    assert live.live_call is None
    assert [i.kind for i in live.stream][-4:] == ["retry", "reasoning", "thought", "cutoff"]
    assert token_meter(live) == "tok ~5.0k↑ ~20↓ cost unknown"
    replay = SessionModel(live=False)
    replay.apply_all(log)
    assert replay.live_call is None and [i.kind for i in replay.stream] == [i.kind for i in live.stream]
    assert replay.context.at(2) == (5000, 32768, "server")


async def test_the_new_session_form_keeps_the_command_lines_endpoint_and_settings(runtime, server):
    from intern_tui.cli import build_parser
    from intern_tui.commands.tui import app_model_options

    server.push(final_reply("from the form"))
    args = build_parser().parse_args(["tui", "--api-base", server.base_url, "--request-timeout", "9"])
    make_options, overrides = app_model_options(args)
    app = InternApp(runtime, make_options=make_options, continue_overrides=overrides)
    async with app.run_test(size=(140, 40)) as pilot:
        await until(pilot, lambda: app.screen.query("#task"))
        app.screen.query_one("#task").text = "tune it"
        app.screen.query_one("#model").value = f"openai/{server.model}"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.model.status.current == "done")
    assert app.supervisor.final_answer == "from the form"
    assert app.supervisor.settings.request_timeout == 9
    assert len(server.chat_requests()) == 1
