"""generate_data through litellm to a local OpenAI-compatible server the test starts on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from intern_tui.bus import Emitter, EventBus
from intern_tui.templates import install
from intern_tui.tools import ToolContext, ToolGate
from intern_tui.tools.base import ApprovalDenied, ToolError


class FakeLLM:
    """/v1/chat/completions answering with the queued replies in turn (the last one repeats)."""

    def __init__(self, replies: list[str]):
        self.replies = replies
        self.requests: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append(body)
                text = fake.replies[min(len(fake.requests) - 1, len(fake.replies) - 1)]
                data = json.dumps({
                    "id": "c1", "object": "chat.completion", "created": 0, "model": body["model"],
                    "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
                    "usage": {"prompt_tokens": 50, "completion_tokens": 80, "total_tokens": 130},
                }).encode()  # fmt: skip
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.api_base = f"http://127.0.0.1:{self.server.server_port}/v1"

    def close(self):
        self.server.shutdown()


def rows(*pairs) -> str:
    return "\n".join(json.dumps({"prompt": p, "completion": c}) for p, c in pairs)


class Approvals:
    def __init__(self, approve: bool):
        self.approve = approve
        self.requests = []

    def request(self, tool, arguments, estimate, pinned=None):
        from intern_tui.agent.approvals import Decision

        self.requests.append((tool, arguments, estimate))
        return Decision("approved", "approve") if self.approve else Decision("denied", "deny", "too costly")


@pytest.fixture
def tool(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-local-only")
    servers = []

    def make(replies, *, approve=True, task="make a model better at arithmetic", model="openai/local-test"):
        fake = FakeLLM(replies)
        servers.append(fake)
        ws = tmp_path / "ws"
        install(ws / "templates")
        bus = EventBus()
        approvals = Approvals(approve)
        ctx = ToolContext(
            session_id="s", workspace=ws, emitter=Emitter(bus, "s"), approvals=approvals,
            settings={"task": task, "llm": model, "api_base": fake.api_base},
        )  # fmt: skip
        return ToolGate(ctx), fake, approvals, bus.subscribe("t")

    yield make
    for fake in servers:
        fake.close()


def test_rows_are_parsed_deduplicated_decontaminated_checked_and_written(tool):
    first = (
        rows(("What is 2 + 2?", "4"), ("What is 3 + 5?", "8"), ("what is 2 + 2?", "4 ")) + "\n1. not json\n"
    )
    eval_item = ("What is 40 + 34?", "40 + 34 = 74.")  # a tiny-arith item: must not end up in training data
    second = rows(eval_item, ("Name a prime above 10.", "11"), ("What is 6 times 7?", "42"))
    gate, fake, approvals, sub = tool([first, second], task="…evaluate on tiny-arith…")
    out = gate.invoke(
        "generate_data", ("Short arithmetic questions with the answer",), {"n": 4, "batch_size": 3}
    )
    assert out["path"] == "data/synthetic.jsonl" and out["written"] == 4
    assert out["dropped"] == {"invalid": 1, "duplicates": 1, "contaminated": 1}
    assert out["fits"] == ["SFT", "GRPO"] and out["quality"]["duplicate_rows"] == 0
    written = [
        json.loads(x) for x in (gate.ctx.workspace / "data" / "synthetic.jsonl").read_text().splitlines()
    ]
    assert [r["prompt"] for r in written] == [
        "What is 2 + 2?",
        "What is 3 + 5?",
        "Name a prime above 10.",
        "What is 6 times 7?",
    ]
    assert len(fake.requests) == 2 and fake.requests[0]["model"] == "local-test"
    assert '"prompt", "completion"' in fake.requests[0]["messages"][0]["content"]
    assert approvals.requests == []  # a local server costs nothing: no approval needed
    assert any(e.kind == "file_written" and e.payload["path"] == "data/synthetic.jsonl" for e in sub.drain())


def test_chat_format_is_written_as_messages(tool):
    reply = "\n".join(json.dumps({"user": f"q{i}", "assistant": f"a{i}"}) for i in range(3))
    gate, _, _, _ = tool([reply])
    out = gate.invoke(
        "generate_data", ("anything",), {"n": 3, "format": "messages", "path": "data/chat.jsonl"}
    )
    assert out["fits"] == ["SFT"] and out["sample"][0]["messages"][1] == {
        "role": "assistant",
        "content": "a0",
    }


def test_an_unknown_price_asks_first_and_a_denial_spends_nothing(tool, monkeypatch):
    gate, fake, approvals, _ = tool([rows(("a", "b"))], approve=False)
    gate.ctx.settings["api_base"] = None  # a remote endpoint (no local server address): price matters
    with pytest.raises(ApprovalDenied, match="too costly"):
        gate.invoke("generate_data", ("anything",), {"n": 50})
    [(tool_name, arguments, estimate)] = approvals.requests
    assert tool_name == "generate_data" and estimate["usd"] is None and "price unknown" in estimate["summary"]
    assert fake.requests == []


def test_above_the_budget_it_asks_with_the_estimate(tool):
    from intern_tui.tools.synthetic import estimate_cost

    cheap = estimate_cost("openai/gpt-4o", None, 2000, 1, 1000)
    dear = estimate_cost("openai/gpt-4o", None, 2000, 200, 1000)
    assert 0 < cheap < 0.5 < dear and dear == pytest.approx(cheap * 200, rel=0.01)
    assert estimate_cost("ollama/qwen3", None, 2000, 200, 1000) == 0.0
    gate, fake, approvals, _ = tool([rows(("a", "b"))], approve=False, model="openai/gpt-4o")
    gate.ctx.settings["api_base"] = None
    with pytest.raises(ApprovalDenied):
        gate.invoke("generate_data", ("anything",), {"n": 2000, "batch_size": 10})
    [(_, _, estimate)] = approvals.requests
    assert estimate["usd"] > 0.5 and "200 request(s) to openai/gpt-4o" in estimate["summary"]
    assert fake.requests == []


def test_scripted_sessions_need_a_model_named(tool):
    gate, _, _, _ = tool([rows(("a", "b"))], model="script:policy.jsonl")
    with pytest.raises(ToolError, match="needs an LLM and this session runs a script: policy"):
        gate.invoke("generate_data", ("anything",), {})
    with pytest.raises(ToolError, match="format must be one of"):
        gate.invoke("generate_data", ("anything",), {"format": "csv", "model": "openai/x"})
