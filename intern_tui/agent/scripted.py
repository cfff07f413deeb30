"""The `script:` policy as a smolagents Model: replays turns from a file through the real agent loop.

A turn exported from a recorded session (`sessions export ID --format script`) also carries its `step` and
the approval `decisions` made in that step; the approval queue reads them through `recorded_decision`, so
a re-run decides the same requests the same way (edits included) unless the person asked to be asked again.
"""

from __future__ import annotations

import json
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
        self._decisions: list[dict[str, Any]] = []  # the recorded decisions of the turn being executed

    @property
    def has_steps(self) -> bool:
        """The turns say which recorded step they were (an exported session, not a hand-written script)."""
        return any(isinstance(t.get("step"), int) for t in self.turns)

    def skip_through(self, step: int) -> None:
        """Continue after recorded step `step` (resume, fork at step K): the turns already taken are skipped."""
        self.position = next(
            (i for i, t in enumerate(self.turns) if isinstance(t.get("step"), int) and t["step"] > step),
            len(self.turns),
        )

    def recorded_decision(self, tool: str, arguments: dict[str, Any] | None) -> dict[str, Any] | None:
        """The recorded decision for this request of the current turn (same tool, same arguments), once."""
        for index, decision in enumerate(self._decisions):
            if decision.get("tool") != tool:
                continue
            if decision.get("arguments") is not None and _same(decision["arguments"]) != _same(arguments):
                return None  # not the request that was decided: a person (or the policy) decides this one
            return self._decisions.pop(index)
        return None

    def generate(
        self, messages, stop_sequences=None, response_format=None, tools_to_call_from=None, **kwargs
    ):
        self.seen_messages.append(list(messages))
        if self.position < len(self.turns):
            turn = self.turns[self.position]
            self.position += 1
            thought, code = turn.get("thought", ""), turn["code"]
            decisions = turn.get("decisions")
            self._decisions = (
                [d for d in decisions if isinstance(d, dict)] if isinstance(decisions, list) else []
            )
        else:
            thought, code = (
                "The scripted policy has no more turns.",
                "final_answer('scripted policy finished')",
            )
            self._decisions = []
        content = render_turn(thought, code)
        prompt_chars = sum(len(str(getattr(m, "content", m))) for m in messages)
        usage = TokenUsage(input_tokens=prompt_chars // 4, output_tokens=len(content) // 4)
        return ChatMessage(role=MessageRole.ASSISTANT, content=content, token_usage=usage)

    def cost(self, usage: TokenUsage) -> float:
        return 0.0  # a script costs nothing (known, unlike an unpriced model)


def _same(value: Any) -> str:
    """Arguments in a comparable form (a recorded payload went through JSON; a live one may hold tuples)."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
