"""Model selection and the clear errors that stop a session before it starts."""

import socket

import pytest
from helpers import write_policy

from intern_tui.agent.models import check_model, load_script, resolve_model_id
from intern_tui.agent.session import Runtime, SessionOptions, start_session
from intern_tui.cli import main
from intern_tui.errors import BadInput, InternError

PROVIDER_KEYS = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "HF_TOKEN", "GEMINI_API_KEY")


@pytest.fixture
def no_keys(monkeypatch):
    for key in PROVIDER_KEYS:
        monkeypatch.delenv(key, raising=False)


def test_default_model_follows_the_first_key_present(no_keys, monkeypatch):
    with pytest.raises(BadInput) as err:
        resolve_model_id(None)
    assert "intern-tui demo" in err.value.hint
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-real-000000000")
    assert resolve_model_id(None).startswith("openai/")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-000000000000")
    assert resolve_model_id(None).startswith("anthropic/")
    assert resolve_model_id(None, config_model="ollama/qwen3") == "ollama/qwen3"
    assert resolve_model_id("script:x.jsonl", config_model="ollama/qwen3") == "script:x.jsonl"


def test_unknown_model_and_missing_key_name_the_fix(no_keys):
    with pytest.raises(BadInput, match="unknown model id 'gpt5'"):
        check_model("gpt5")
    with pytest.raises(BadInput, match="needs the ANTHROPIC_API_KEY") as err:
        check_model("anthropic/claude-sonnet-4-5")
    assert "intern-tui demo" in err.value.hint
    with pytest.raises(BadInput, match="--api-base"):
        check_model("hosted_vllm/my-model")


def test_unreachable_local_endpoint_is_a_clear_error():
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(InternError, match="cannot reach the model server") as err:
        check_model("ollama/qwen3", api_base=f"http://127.0.0.1:{port}")
    assert "ollama serve" in err.value.hint


def test_cli_reports_model_errors_in_one_line(home, no_keys, capsys):
    assert main(["run", "--headless", "--model", "anthropic/claude-sonnet-4-5", "train something"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert (
        err[0]
        == "intern-tui: error: anthropic/claude-sonnet-4-5 needs the ANTHROPIC_API_KEY environment variable"
    )
    assert "Traceback" not in "\n".join(err)


def test_bad_policy_file_is_reported_with_its_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"thought": "ok", "code": "print(1)"}\n{"thought": "no code"}\n')
    with pytest.raises(BadInput, match=r"bad.jsonl:2: each line needs a \"code\" string"):
        load_script(bad)
    bad.write_text("not json\n")
    with pytest.raises(BadInput, match="bad.jsonl:1: not valid JSON"):
        load_script(bad)


def test_script_policy_ends_with_a_final_answer_when_lines_run_out(home, tmp_path):
    rt = Runtime.open(home)
    try:
        model = write_policy(tmp_path / "p.jsonl", [("Only one turn.", "print('hello')")])
        sup = start_session(rt, SessionOptions(task="t", model=model))
        assert sup.wait(30) and sup.status == "done"
        assert sup.final_answer == "scripted policy finished"
    finally:
        rt.close()


def test_litellm_model_runs_the_real_loop_offline_with_mock_response(home, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key-0000")
    rt = Runtime.open(home)
    try:
        reply = "Thought: Nothing to do.\n<code>\nfinal_answer('mocked answer')\n</code>"
        options = SessionOptions(task="t", model="openai/gpt-4o-mini", model_kwargs={"mock_response": reply})
        sup = start_session(rt, options)
        assert sup.wait(60) and sup.status == "done", sup.error
        assert sup.final_answer == "mocked answer"
    finally:
        rt.close()
