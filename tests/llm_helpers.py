"""Driving real sessions against the local OpenAI-compatible server (tests/llm_server.py)."""

from __future__ import annotations

from llm_server import LLMServer, Reply

from intern_tui.agent.models import ModelSettings
from intern_tui.agent.session import SessionOptions, start_session
from intern_tui.store.queries import iter_events

QUICK = {"retry_base_s": 0.01, "request_timeout": 5.0}


def step_reply(i: int, *, output: int = 0, thought: str | None = None) -> Reply:
    """A realistic CodeAgent turn: a thought and a small code block printing `output` characters."""
    code = f"rows = [{i}, {i + 1}, {i + 2}]\nprint('step {i}', sum(rows), 'x' * {output})"
    return Reply(f"Thought: {thought or f'Step {i}: check the data again.'}\n<code>\n{code}\n</code>")


def final_reply(answer: str = "done") -> Reply:
    return Reply(f"Thought: Finished.\n<code>\nfinal_answer({answer!r})\n</code>")


def start_real(runtime, server: LLMServer, *, model: str | None = None, start: bool = True, **settings):
    """A session whose model is litellm's openai/ provider pointed at `server` (no API key)."""
    max_steps = settings.pop("max_steps", 300)
    options = SessionOptions(
        task=settings.pop("task", "fine-tune a tiny model"),
        model=model or f"openai/{server.model}",
        api_base=server.base_url,
        max_steps=max_steps,
        approve="none",
        settings=ModelSettings(**{**QUICK, **settings}),
    )
    return start_session(runtime, options, start=start)


def events(runtime, session_id: str, kinds=None):
    runtime.writer.flush()
    conn = runtime.store.connect()
    try:
        return list(iter_events(conn, session_id, kinds=kinds))
    finally:
        conn.close()


class FakeClock:
    """Stands in for the supervisor's interruptible sleep: records each wait, returns at once."""

    def __init__(self):
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> bool:
        self.waits.append(seconds)
        return False
