"""Real model calls through litellm against a local OpenAI-compatible server (tests/llm_server.py):
streaming, usage and cost, retries with visible waits, clear fatal errors, interrupts that abandon the
call in flight, empty and cut-off replies, reasoning."""

import signal
import subprocess
import sys
import threading

import pytest
from helpers import wait_for
from llm_helpers import FakeClock, events, final_reply, start_real, step_reply
from llm_server import (
    Drop,
    Hang,
    LLMServer,
    Reply,
    rate_limited,
    server_error,
    unauthorized,
    unknown_model,
)

from intern_tui.agent.calls import EMPTY_REPLY_NOTE
from intern_tui.agent.prompts import CUT_OFF_NOTE
from intern_tui.cli import main
from intern_tui.store.queries import session_detail


@pytest.fixture(autouse=True)
def no_openai_key(monkeypatch):
    """A local api_base needs no key: every test here runs without one."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


@pytest.fixture
def server():
    with LLMServer() as s:
        yield s


def kinds(runtime, sup, *names):
    return [e for e in events(runtime, sup.emitter.session_id) if e.kind in names]


@pytest.mark.parametrize("provider", ["openai", "hosted_vllm"])
def test_a_streamed_reply_runs_the_real_loop_and_is_recorded(runtime, server, provider):
    server.push(step_reply(1, output=40), final_reply("trained"))
    sup = start_real(runtime, server, model=f"{provider}/{server.model}")
    assert sup.wait(60) and sup.status == "done", sup.error
    assert sup.final_answer == "trained"
    chat = server.chat_requests()
    assert len(chat) == 2
    assert all(r.body["stream"] and r.body["stream_options"] == {"include_usage": True} for r in chat)
    assert all(r.body["model"] == server.model for r in chat)
    deltas = kinds(runtime, sup, "model_delta")
    assert deltas and "".join(d.payload.get("text", "") for d in deltas if d.step == 1).startswith("Thought:")
    usage = kinds(runtime, sup, "token_usage")
    expected = server.usage_for(chat[0], step_reply(1, output=40).text.split("</code>")[0])
    assert usage[0].payload["input_tokens"] == expected["prompt_tokens"]
    assert "estimated" not in usage[0].payload
    assert usage[0].payload["cost_usd"] is None  # a local server: nobody knows its price


def test_a_reply_without_usage_is_estimated_and_says_so(runtime, server):
    server.push(Reply(final_reply().text, usage=False))
    sup = start_real(runtime, server)
    assert sup.wait(60) and sup.status == "done"
    (usage,) = kinds(runtime, sup, "token_usage")
    assert usage.payload["estimated"] is True
    assert usage.payload["input_tokens"] > 4000  # the system prompt alone is ~19k characters


def test_rate_limits_wait_as_retry_after_says_and_each_wait_is_an_event(runtime, server, capsys):
    server.push(rate_limited(40), rate_limited(40), rate_limited(7), final_reply())
    sup = start_real(runtime, server, start=False)
    sup.sleep = clock = FakeClock()
    sup.start()
    assert sup.wait(60) and sup.status == "done", sup.error
    assert clock.waits == [40, 40, 7]
    retries = [e.payload for e in kinds(runtime, sup, "model_retry")]
    assert [(r["attempt"], r["max_attempts"], r["wait_s"], r["kind"]) for r in retries] == [
        (1, 8, 40, "rate_limit"),
        (2, 8, 40, "rate_limit"),
        (3, 8, 7, "rate_limit"),
    ]
    assert len(server.chat_requests()) == 4  # no hidden retries inside litellm or the openai client
    from intern_tui.commands.run import format_event

    line = format_event(kinds(runtime, sup, "model_retry")[2])
    assert line.startswith("[1] ⚠ model busy, retrying in 7 s (3/8): rate limited (429)")


def test_server_errors_retry_with_growing_backoff(runtime, server):
    server.push(server_error(500), server_error(502), server_error(503), final_reply())
    sup = start_real(runtime, server, start=False, retry_base_s=2.0)
    sup.sleep = clock = FakeClock()
    sup.start()
    assert sup.wait(60) and sup.status == "done", sup.error
    assert len(clock.waits) == 3
    assert 1.6 <= clock.waits[0] <= 2.4 and 3.2 <= clock.waits[1] <= 4.8 and 6.4 <= clock.waits[2] <= 9.6
    assert [e.payload["kind"] for e in kinds(runtime, sup, "model_retry")] == ["server"] * 3


def test_a_hung_server_and_a_dropped_stream_are_retried(runtime, server):
    server.push(Hang(60), Drop(after_chunks=2), final_reply())
    sup = start_real(runtime, server, request_timeout=1.0)
    assert sup.wait(60) and sup.status == "done", sup.error
    reasons = [e.payload for e in kinds(runtime, sup, "model_retry")]
    assert [r["kind"] for r in reasons] == ["timeout", "connection"]
    assert "1 s request timeout" in reasons[0]["reason"]
    # the dropped stream's partial text was shown live but never became a step
    assert any("Thought: I will" in e.payload.get("text", "") for e in kinds(runtime, sup, "model_delta"))
    outputs = kinds(runtime, sup, "model_output", "observation")
    assert [e.kind for e in outputs] == ["model_output", "observation"]


def test_a_retry_budget_that_runs_out_fails_in_one_line_without_a_phantom_step(runtime, server):
    server.push(step_reply(1), *[server_error(503)] * 10)
    sup = start_real(runtime, server, start=False, retry_attempts=3)
    sup.sleep = FakeClock()
    sup.start()
    assert sup.wait(60) and sup.status == "failed"
    assert sup.error.startswith("the model is unavailable after 4 tries")
    assert "\n" not in sup.error
    assert len(server.chat_requests()) == 5  # 1 good + 4 tries of step 2
    observations = kinds(runtime, sup, "observation")
    assert [e.step for e in observations] == [1]  # the failed call added no step
    (ended,) = kinds(runtime, sup, "session_ended")
    assert ended.payload["steps"] == 1
    assert session_detail(runtime.store.connect(), sup.emitter.session_id)["steps"] == 1  # sessions list too
    assert [e.payload["step"] for e in kinds(runtime, sup, "step_started")] == [1, 2]


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (unauthorized(), "the model provider rejected the API key (401)"),
        (
            unknown_model("test-model"),
            "unknown model or endpoint (404): The model `test-model` does not exist.",
        ),
    ],
)
def test_a_bad_key_or_unknown_model_fails_at_once_in_one_line(home, server, capsys, failure, expected):
    server.push(failure)
    code = main(
        ["run", "--headless", "--model", f"openai/{server.model}", "--api-base", server.base_url, "do it"]
    )
    assert code == 1
    assert len(server.chat_requests()) == 1  # no retry
    out = capsys.readouterr().out
    ended = [line for line in out.splitlines() if line.startswith("session ended")]
    assert ended == [ended[0]] and ended[0].startswith(f"session ended: failed — {expected}")
    assert "Traceback" not in out


def test_interrupt_abandons_a_hung_call_and_its_late_reply_is_never_executed(runtime, server, tmp_path):
    # The server answers headers, then nothing: only abandoning the call can end the session.
    server.push(Hang(120))
    sup = start_real(runtime, server, request_timeout=300)
    wait_for(lambda: server.chat_requests())
    sup.interrupt()
    assert sup.wait(10) and sup.status == "interrupted"
    assert kinds(runtime, sup, "observation") == []
    assert [e.payload["status"] for e in kinds(runtime, sup, "session_ended")] == ["interrupted"]


def test_a_reply_that_streams_in_after_the_interrupt_is_dropped(runtime, server):
    marker = "write_file('late.txt', 'ran')"
    slow = Reply(
        f"Thought: Write the marker.\n<code>\n{marker}\nfinal_answer('late')\n</code>",
        chunk_chars=4,
        chunk_delay=0.05,
    )
    server.push(slow)
    sup = start_real(runtime, server)
    wait_for(lambda: kinds(runtime, sup, "model_delta"))  # the reply is streaming in
    sup.interrupt()
    assert sup.wait(10) and sup.status == "interrupted"
    assert sup.final_answer is None
    assert kinds(runtime, sup, "code_action", "file_written", "model_output") == []
    runtime.writer.flush()
    assert not (runtime.store.workspace(sup.emitter.session_id) / "late.txt").exists()


def test_interrupt_cuts_a_retry_wait_short(runtime, server):
    server.push(rate_limited(600))
    sup = start_real(runtime, server)  # the real, interruptible sleep
    wait_for(lambda: kinds(runtime, sup, "model_retry"))
    sup.interrupt()
    assert sup.wait(10) and sup.status == "interrupted"
    assert len(server.chat_requests()) == 1


def test_an_empty_reply_goes_back_to_the_model_and_is_not_a_step(runtime, server):
    server.push(Reply(""), step_reply(1), final_reply())
    sup = start_real(runtime, server)
    assert sup.wait(60) and sup.status == "done"
    chat = server.chat_requests()
    assert EMPTY_REPLY_NOTE in chat[1].prompt_text and EMPTY_REPLY_NOTE not in chat[2].prompt_text
    assert [e.step for e in kinds(runtime, sup, "observation")] == [1, 2]
    (retry,) = kinds(runtime, sup, "model_retry")
    assert retry.payload["kind"] == "empty"
    assert len(kinds(runtime, sup, "token_usage")) == 3  # the empty reply's prompt was paid for too


def test_a_reply_cut_off_at_the_token_limit_is_surfaced_to_user_and_model(runtime, server):
    server.push(
        Reply("Thought: A long script.\n<code>\nlines = [\n  'a',\n", finish_reason="length"), final_reply()
    )
    sup = start_real(runtime, server)
    assert sup.wait(60) and sup.status == "done"
    first = kinds(runtime, sup, "model_output")[0]
    assert first.payload["finish_reason"] == "length"
    assert CUT_OFF_NOTE in server.chat_requests()[1].prompt_text


def test_reasoning_is_kept_as_events_and_not_sent_back_by_default(runtime, server):
    server.push(
        Reply(step_reply(1).text, reasoning="The user wants SFT; check the columns first."),
        Reply("<think>\nMaybe DPO instead?\n</think>\n\n" + final_reply().text),
    )
    sup = start_real(runtime, server)
    assert sup.wait(60) and sup.status == "done", sup.error
    outputs = [e.payload for e in kinds(runtime, sup, "model_output")]
    assert outputs[0]["reasoning"] == "The user wants SFT; check the columns first."
    assert outputs[1]["reasoning"] == "Maybe DPO instead?" and "<think>" not in outputs[1]["text"]
    assert "check the columns first" not in server.chat_requests()[1].prompt_text


def test_reasoning_goes_back_to_the_model_when_the_setting_asks(runtime, server):
    server.push(Reply(step_reply(1).text, reasoning="Plan: inspect, then train."), final_reply())
    sup = start_real(runtime, server, keep_reasoning=True)
    assert sup.wait(60) and sup.status == "done"
    assert "<think>\nPlan: inspect, then train.\n</think>" in server.chat_requests()[1].prompt_text


def test_the_code_of_a_step_is_sent_once(runtime, server):
    server.push(step_reply(1), step_reply(2), final_reply())
    sup = start_real(runtime, server)
    assert sup.wait(60) and sup.status == "done"
    last = server.chat_requests()[-1].prompt_text
    assert last.count("rows = [1, 2, 3]") == 1 and last.count("rows = [2, 3, 4]") == 1
    assert "Calling tools" not in last


def test_delta_events_are_batched_not_one_per_token(runtime, server):
    long_reply = Reply(step_reply(1, thought="x " * 600).text, chunk_chars=2)
    server.push(long_reply, final_reply())
    sup = start_real(runtime, server)
    assert sup.wait(60) and sup.status == "done"
    deltas = [e for e in kinds(runtime, sup, "model_delta") if e.step == 1]
    chunks = len(long_reply.text) // 2
    assert deltas and len(deltas) < chunks / 10
    assert deltas[-1].payload["tokens"] >= chunks - 40  # stop sequence cut the tail


def test_the_model_call_runs_in_a_thread_the_agent_can_leave(runtime, server):
    """The request thread is a daemon that cannot keep the process alive after an interrupt."""
    server.push(Hang(120))
    sup = start_real(runtime, server, request_timeout=300)
    wait_for(lambda: server.chat_requests())
    workers = [t for t in threading.enumerate() if t.name == "llm-request"]
    assert workers and all(t.daemon for t in workers)
    sup.interrupt()
    assert sup.wait(10)


def test_ctrl_c_in_headless_mode_abandons_the_call_in_flight(home, server):
    server.push(Hang(120))
    command = [sys.executable, "-m", "intern_tui", "run", "--headless", "--model", "openai/test-model"]
    command += ["--api-base", server.base_url, "--request-timeout", "300", "train something"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: server.chat_requests() or proc.poll() is not None, timeout=120)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)  # the server still hangs: only abandoning ends it
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "session ended: interrupted" in out
    assert "resume with: intern-tui resume" in err
