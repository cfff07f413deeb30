"""Resume and fork keep the session's endpoint and settings; any litellm id; honest endings at the cap."""

import json

import pytest
from helpers import write_config, write_policy
from llm_helpers import events, final_reply, start_real, step_reply
from llm_server import LLMServer

from intern_tui.agent.models import check_model
from intern_tui.agent.session import SessionOptions, resume_session, start_session
from intern_tui.cli import main
from intern_tui.errors import BadInput, InternError
from intern_tui.store import open_store
from intern_tui.store.queries import iter_events
from intern_tui.tui.state import SessionModel
from intern_tui.tui.widgets.header import STATUS_LABELS


@pytest.fixture(autouse=True)
def no_keys(monkeypatch):
    for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "AZURE_API_KEY", "OPENROUTER_API_KEY"):
        monkeypatch.delenv(key, raising=False)


@pytest.fixture
def servers():
    with LLMServer() as a, LLMServer() as b:
        yield a, b


def test_resume_talks_to_the_sessions_own_endpoint_with_its_settings(home, runtime, servers, capsys):
    a, b = servers
    # the config now points elsewhere: a resumed transcript must still go where the session went
    write_config(home, f'model = "openai/other"\napi_base = "{b.base_url}"\n')
    a.push(step_reply(1))
    sup = start_real(runtime, a, max_steps=1, request_timeout=7.0, params={"temperature": 0.3})
    assert sup.wait(60) and sup.status == "max_steps"
    sid = sup.emitter.session_id
    runtime.close()
    a.push(final_reply())
    assert main(["resume", sid, "--headless", "--max-steps", "3"]) == 0, capsys.readouterr().err
    assert b.requests == []
    resumed = a.chat_requests()[-1]
    assert resumed.body["temperature"] == 0.3
    out = capsys.readouterr().out
    assert f"@ {a.base_url}" in out.splitlines()[0]
    conn = open_store(home).connect()
    started = [e.payload for e in iter_events(conn, sid, kinds=["session_started"])]
    conn.close()
    assert [s["model_settings"]["request_timeout"] for s in started] == [7.0, 7.0]


def test_fork_keeps_the_endpoint_too(runtime, servers):
    a, b = servers
    a.push(step_reply(1), step_reply(2), final_reply())
    sup = start_real(runtime, a)
    assert sup.wait(60) and sup.status == "done"
    a.push(final_reply("forked"))
    from intern_tui.agent.session import fork_session

    fork = fork_session(runtime, sup.emitter.session_id, 1, instruction="try DPO", approve="none")
    assert fork.wait(60) and fork.status == "done" and fork.final_answer == "forked"
    assert len(a.chat_requests()) == 4 and b.requests == []
    started = events(runtime, fork.emitter.session_id, ["session_started"])[0].payload
    assert started["api_base"] == a.base_url and started["model_settings"]["request_timeout"] == 5.0


def test_another_provider_on_resume_needs_an_explicit_endpoint(home, runtime, servers, capsys):
    a, b = servers
    a.push(step_reply(1))
    sup = start_real(runtime, a, max_steps=1)
    assert sup.wait(60)
    sid = sup.emitter.session_id
    with pytest.raises(BadInput, match="would send its transcript to another host"):
        resume_session(runtime, sid, model="anthropic/claude-sonnet-4-5", max_steps=5, start=False)
    runtime.close()
    assert main(["resume", sid, "--headless", "--max-steps", "5", "--model", "anthropic/claude-x"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"intern-tui: error: session {sid} used the endpoint {a.base_url}")
    assert err[1].startswith("hint: say where explicitly: --api-base URL")
    # an explicit --api-base is the override: the transcript goes there, and only there
    b.push(final_reply())
    args = ["resume", sid, "--headless", "--max-steps", "5", "--model", f"hosted_vllm/{b.model}"]
    assert main([*args, "--api-base", b.base_url]) == 0
    assert len(b.chat_requests()) == 1 and len(a.chat_requests()) == 1


def test_any_litellm_id_passes_through_and_a_local_endpoint_needs_no_key(servers, monkeypatch):
    a, _ = servers
    for model in ("openai/x", "lm_studio/x", "hosted_vllm/x", "openrouter/meta/llama-3", "azure/dep"):
        check_model(model, api_base=a.base_url)  # a server you run: no key needed
    check_model("vllm/facebook/opt-125m")  # litellm's in-process vLLM: nothing to reach
    with pytest.raises(BadInput, match="azure/dep needs the AZURE_API_KEY environment variable"):
        check_model("azure/dep")
    with pytest.raises(BadInput, match="needs the OPENROUTER_API_KEY"):
        check_model("openrouter/meta/llama-3")
    with pytest.raises(BadInput, match="unknown model id 'gpt5'"):
        check_model("gpt5")
    with pytest.raises(InternError, match="cannot reach the model server for lm_studio/x"):
        check_model("lm_studio/x")  # its default endpoint, localhost:1234, is not running here
    monkeypatch.setenv("AZURE_API_KEY", "not-a-real-key-0000")
    check_model("azure/dep")


def test_bad_model_settings_are_one_line_errors(home, capsys):
    assert main(["run", "--headless", "--model", "script:x.jsonl", "--request-timeout", "0", "t"]) == 2
    assert capsys.readouterr().err.startswith("intern-tui: error: --request-timeout must be a positive")
    write_config(home, '[llm]\nrequest_timeout = "soon"\n')
    assert main(["run", "--headless", "--model", "script:x.jsonl", "t"]) == 2
    err = capsys.readouterr().err
    assert "invalid [llm] setting" in err and "request_timeout must be a number" in err


def test_config_llm_settings_reach_the_session_and_its_requests(home, runtime, servers, capsys):
    a, _ = servers
    write_config(
        home, "[llm]\nrequest_timeout = 42\nretry_attempts = 3\ntemperature = 0.2\nmax_tokens = 900\n"
    )
    a.push(final_reply())
    code = main(
        ["run", "--headless", "--json", "--model", "openai/test-model", "--api-base", a.base_url, "t"]
    )
    assert code == 0
    first = json.loads(capsys.readouterr().out.splitlines()[0])
    settings = first["payload"]["model_settings"]
    assert settings["request_timeout"] == 42 and settings["retry_attempts"] == 3
    assert settings["params"] == {"temperature": 0.2, "max_tokens": 900}
    assert a.chat_requests()[0].body["max_tokens"] == 900


def test_the_step_cap_holds_exactly_and_ends_as_max_steps(home, runtime, tmp_path, capsys):
    turns = [(f"Step {i}.", f"print({i})") for i in range(1, 10)]
    model = write_policy(tmp_path / "p.jsonl", turns)
    sup = start_session(runtime, SessionOptions(task="t", model=model, max_steps=3))
    assert sup.wait(60) and sup.status == "max_steps"
    sid = sup.emitter.session_id
    evs = events(runtime, sid)
    assert [e.payload["step"] for e in evs if e.kind == "step_started"] == [1, 2, 3]
    assert [e.kind for e in evs if e.kind in ("final_answer",)] == []
    assert evs[-1].payload == {"status": "max_steps", "steps": 3, "reason": "reached the step cap (3/3)"}
    assert sup.agent.model.inner.position == 3  # no extra model call for a forced answer
    model_state = SessionModel()
    model_state.apply_all(evs)
    assert (model_state.status.current, model_state.step.current) == ("max_steps", 3)
    assert STATUS_LABELS["max_steps"] == "MAX STEPS"
    runtime.close()
    assert main(["sessions", "list", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["status"], row["steps"]) == ("max_steps", 3)
    assert main(["resume", sid, "--headless"]) == 2
    err = capsys.readouterr().err
    assert "stopped at its step cap (3)" in err and "--max-steps 103" in err
    assert main(["resume", sid, "--headless", "--max-steps", "5"]) == 1  # runs steps 4 and 5, then the cap
    assert "session ended: max_steps — reached the step cap (5/5)" in capsys.readouterr().out
