"""The context window against a local OpenAI-compatible server: learned from the server, litellm or the
user, shown when assumed; compaction that really gets the prompt under the window; a context-length
error compacts and retries; a resumed session compacts before its first call."""

import pytest
from llm_helpers import events, final_reply, start_real, step_reply
from llm_server import LLMServer, Reply

from intern_tui.agent.llm import learn_context_window
from intern_tui.agent.memory import rebuild_memory
from intern_tui.agent.session import resume_session
from intern_tui.tui.state import SessionModel
from intern_tui.tui.widgets.header import context_meter


@pytest.fixture(autouse=True)
def no_openai_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def started(runtime, sup):
    return [e for e in events(runtime, sup.emitter.session_id, ["session_started"])][-1].payload


def test_the_window_comes_from_vllms_models_endpoint(runtime):
    with LLMServer(max_model_len=32768) as server:
        sup = start_real(runtime, server, start=False)
        payload = started(runtime, sup)
        assert (payload["context_window"], payload["context_window_source"]) == (32768, "server")
        assert sup.context_window == 32768
        assert server.requests[0].path == "/v1/models"
        sup.start()
        sup.interrupt()
        sup.wait(30)


def test_ollama_reports_its_window_through_api_show():
    with LLMServer(ollama_context=40960) as server:
        assert learn_context_window("ollama/qwen3:8b", server.root_url) == (40960, "server")
        assert server.requests[-1].body == {"model": "qwen3:8b"}
    with LLMServer(ollama_context=40960, ollama_num_ctx=8192) as server:  # what ollama really runs with
        assert learn_context_window("ollama_chat/qwen3:8b", server.root_url) == (8192, "server")


def test_litellms_model_info_gives_the_window_of_known_cloud_models():
    assert learn_context_window("openai/gpt-4o", None) == (128000, "litellm")
    assert learn_context_window("anthropic/claude-sonnet-4-5", None)[1] == "litellm"


def test_an_unknown_window_is_a_conservative_default_shown_in_the_header(runtime):
    with LLMServer() as server:  # /v1/models without max_model_len, and no litellm entry
        sup = start_real(runtime, server, model=f"hosted_vllm/{server.model}", start=False)
        payload = started(runtime, sup)
        assert (payload["context_window"], payload["context_window_source"]) == (32768, "default")
        model = SessionModel()
        model.apply_all(events(runtime, sup.emitter.session_id))
        assert context_meter(model) == "ctx 0/32k (assumed)"
        sup.start()
        sup.interrupt()
        sup.wait(30)


def test_an_explicit_window_wins(runtime):
    with LLMServer(max_model_len=32768) as server:
        sup = start_real(runtime, server, context_window=16384, start=False)
        assert started(runtime, sup)["context_window_source"] == "setting"
        assert sup.context_window == 16384
        sup.start()
        sup.interrupt()
        sup.wait(30)


def test_a_long_run_on_a_32k_server_stays_inside_the_window(runtime):
    # The server's tokenizer counts 1.6x more tokens than the 4-characters rule: the estimate must learn
    # that from the reported usage, or the prompt would overflow long before the end.
    with LLMServer(max_model_len=32768, chars_per_token=2.5) as server:
        server.push(*[step_reply(i, output=3000) for i in range(1, 41)], final_reply())
        sup = start_real(runtime, server)
        assert sup.wait(180) and sup.status == "done", sup.error
        chat = server.chat_requests()
        assert [r.status for r in chat] == [200] * 41  # never refused
        assert max(server.prompt_tokens(r) for r in chat) < 32768
        compactions = [e.payload for e in events(runtime, sup.emitter.session_id, ["compacted"])]
        assert compactions and all(c["tokens_after"] <= c["target_tokens"] for c in compactions)
        for r in chat:  # each step's code is in the prompt at most once
            for i in range(1, 41):
                assert r.prompt_text.count(f"rows = [{i}, {i + 1}, {i + 2}]") <= 1


def test_a_context_length_error_compacts_and_retries_instead_of_failing(runtime):
    # A proxy that hides the real 16k window while the user said 128k: the server's 400 is the only news.
    with LLMServer(max_model_len=16384, report_max_model_len=False) as server:
        server.push(*[step_reply(i, output=4000) for i in range(1, 16)], final_reply())
        sup = start_real(runtime, server, context_window=131072)
        assert sup.wait(180) and sup.status == "done", sup.error
        statuses = [r.status for r in server.chat_requests()]
        assert statuses.count(400) == 1 and statuses[-1] == 200  # refused once, then it learned
        (compacted,) = [
            e.payload
            for e in events(runtime, sup.emitter.session_id, ["compacted"])
            if e.payload["reason"] == "context_exceeded"
        ]
        assert compacted["window"] == 16384 and compacted["window_source"] == "server error"
        assert sup.context_window == 16384


def test_one_huge_observation_is_shrunk_so_the_next_prompt_fits(runtime):
    # 8k window: the system prompt is ~5k tokens, one 20k-character observation another 5k
    with LLMServer(max_model_len=8192) as server:
        server.push(step_reply(1, output=200_000), step_reply(2), final_reply())
        sup = start_real(runtime, server)
        assert sup.wait(120) and sup.status == "done", sup.error
        assert [r.status for r in server.chat_requests()] == [200, 200, 200]
        (compacted,) = [e.payload for e in events(runtime, sup.emitter.session_id, ["compacted"])]
        assert compacted["shrink_chars"] is not None
        assert "characters cut to fit the context window" in server.chat_requests()[1].prompt_text


def test_a_resumed_session_compacts_before_its_first_call(runtime):
    with LLMServer(max_model_len=131072) as server:
        server.push(*[step_reply(i, output=6000) for i in range(1, 13)])
        sup = start_real(runtime, server, max_steps=12)
        assert sup.wait(120) and sup.status == "max_steps", sup.error
        sid = sup.emitter.session_id
        server.max_model_len = 16384  # the server came back with a smaller window
        before = len(server.chat_requests())
        server.push(final_reply())
        sup = resume_session(runtime, sid, approve="none", max_steps=20)
        assert sup.wait(120) and sup.status == "done", sup.error
        resumed = server.chat_requests()[before:]
        assert [r.status for r in resumed] == [200]  # the first call already fitted
        tail = [e for e in events(runtime, sid) if e.seq > started_seq(runtime, sid)]
        first_call = next(e.seq for e in tail if e.kind == "model_call")
        resume_compactions = [e for e in tail if e.kind == "compacted" and e.payload["reason"] == "resume"]
        assert resume_compactions and resume_compactions[0].seq < first_call


def started_seq(runtime, sid) -> int:
    return [e.seq for e in events(runtime, sid, ["session_started"])][-1]


def test_a_rebuilt_memory_is_exactly_the_compacted_one(runtime):
    with LLMServer(max_model_len=16384) as server:
        replies = [step_reply(i, output=3000) for i in range(1, 20)]
        replies[9] = step_reply(10, output=120_000)  # forces a shrink too
        server.push(*replies, Reply(final_reply().text))
        sup = start_real(runtime, server)
        assert sup.wait(180) and sup.status == "done", sup.error
        compactions = events(runtime, sup.emitter.session_id, ["compacted"])
        assert len(compactions) >= 2 and any(c.payload["shrink_chars"] for c in compactions)
        rebuilt = rebuild_memory(events(runtime, sup.emitter.session_id))
        live = [m.content for s in sup.agent.memory.steps for m in s.to_messages()]
        again = [m.content for s in rebuilt.steps for m in s.to_messages()]
        assert again == live


def test_repeated_compactions_carry_earlier_summaries_and_count_what_they_drop():
    from types import SimpleNamespace

    from smolagents.memory import ActionStep, TaskStep
    from smolagents.monitoring import Timing

    from intern_tui.agent.compaction import NOTE_HEAD, compact, step_chars

    def step(i):
        return ActionStep(
            step_number=i,
            timing=Timing(start_time=0),
            model_output=f"Thought: try idea {i}\n<code>\nprint({i})\n</code>",
            observations=f"result {i} " + "y" * 2000,
        )

    memory = SimpleNamespace(
        system_prompt=SimpleNamespace(system_prompt="S" * 1000), steps=[TaskStep("the task")]
    )
    agent = SimpleNamespace(memory=memory)
    memory.steps += [step(i) for i in range(1, 11)]
    first = compact(agent, target_chars=6000)
    assert first.keep_from_step >= 8 and "step 1: try idea 1" in first.note
    memory.steps += [step(i) for i in range(11, 60)]
    second = compact(agent, target_chars=6000)
    note = memory.steps[1].task
    assert memory.steps[0].task == "the task" and note.startswith(NOTE_HEAD)
    assert second.shrink_chars is None  # fewer whole steps beat many shrunk ones
    assert "earlier lines left out to fit the window" in note
    assert f"- step {second.keep_from_step - 1}: try idea" in note  # the newest folded step is summarised
    assert 1000 + sum(step_chars(s) for s in memory.steps) <= 6000
    assert second.chars_after <= 6000 < second.chars_before
