"""The `script:` policy as a smolagents Model: replays turns from a file through the real agent loop."""

from __future__ import annotations

from typing import Any

from smolagents.models import ChatMessage, MessageRole, Model
from smolagents.monitoring import TokenUsage

from .models import render_turn


class ScriptedModel(Model):
    """A Model that replays a policy file through the real agent loop: no LLM, fully deterministic."""

    def __init__(self, turns: list[dict[str, Any]], model_id: str = "script:inline"):
        super().__init__(model_id=model_id)
        self.turns = turns
        self.position = 0
        self.seen_messages: list[list[Any]] = []

    def generate(
        self, messages, stop_sequences=None, response_format=None, tools_to_call_from=None, **kwargs
    ):
        self.seen_messages.append(list(messages))
        if self.position < len(self.turns):
            turn = self.turns[self.position]
            self.position += 1
            thought, code = turn.get("thought", ""), turn["code"]
        else:
            thought, code = (
                "The scripted policy has no more turns.",
                "final_answer('scripted policy finished')",
            )
        content = render_turn(thought, code)
        prompt_chars = sum(len(str(getattr(m, "content", m))) for m in messages)
        usage = TokenUsage(input_tokens=prompt_chars // 4, output_tokens=len(content) // 4)
        return ChatMessage(role=MessageRole.ASSISTANT, content=content, token_usage=usage)

    def cost(self, usage: TokenUsage) -> float:
        return 0.0  # a script costs nothing (known, unlike an unpriced model)
