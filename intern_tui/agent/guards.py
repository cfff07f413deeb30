"""The doom-loop detector the supervisor runs at every step boundary (compaction: compaction.py)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

_WS = re.compile(r"\s+")


def _fingerprint(*parts: str | None) -> str:
    text = "\x00".join(_WS.sub(" ", p or "").strip() for p in parts)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


@dataclass
class DoomLoopDetector:
    """Spots an agent going round in circles.

    - the same step (same code, same outcome) `repeat` times in a row;
    - a cycle of 2–3 different steps repeated `cycles` times (A B A B A B);
    - the same tool call with the same result in each of the last `repeat`+1 steps (repeats inside one
      step are a polling loop, not a doom loop).
    After it fires it stays quiet for `cooldown` steps so the correction has a chance to work.
    """

    repeat: int = 3
    cycles: int = 3
    window: int = 12
    cooldown: int = 3
    history: list[str] = field(default_factory=list)
    _quiet_until: int = 0

    def observe(
        self,
        step: int,
        code: str | None,
        outcome: str | None,
        tool_calls: list[tuple[int, str, str]] | None = None,
    ) -> str | None:
        """Record a finished step; return a description of the loop when one is detected."""
        self.history.append(_fingerprint(code, outcome))
        self.history = self.history[-self.window * 2 :]
        if step < self._quiet_until:
            return None
        found = self._detect(tool_calls or [])
        if found:
            self._quiet_until = step + self.cooldown
            self.history.clear()
        return found

    def _detect(self, tool_calls: list[tuple[int, str, str]]) -> str | None:
        h = self.history
        if len(h) >= self.repeat and len(set(h[-self.repeat :])) == 1:
            return f"the same action produced the same result {self.repeat} times in a row"
        for period in (2, 3):
            span = period * self.cycles
            if len(h) >= span:
                tail = h[-span:]
                if len(set(tail[:period])) == period and all(
                    tail[i] == tail[i % period] for i in range(span)
                ):
                    return f"a cycle of {period} steps repeated {self.cycles} times"
        # The same call with the same result in each of the last few steps (polling inside one step, or
        # looking the same thing up now and then, is fine).
        if tool_calls:
            span = max(self.repeat + 1, 4)
            last_step = tool_calls[-1][0]
            wanted = set(range(last_step - span + 1, last_step + 1))
            steps_by_call: dict[tuple[str, str], set[int]] = {}
            for step, tool, outcome in tool_calls:
                if step in wanted:
                    steps_by_call.setdefault((tool, outcome), set()).add(step)
            for (tool, _), steps in steps_by_call.items():
                if steps == wanted:
                    return f"{tool} returned the same result in each of the last {span} steps"
        return None


def correction(reason: str) -> str:
    return (
        f"Supervisor: you appear to be stuck in a loop ({reason}). Stop repeating it. State what you have "
        "learned so far, what the repeated result tells you, and choose a different approach (another tool, "
        "other arguments, a smaller experiment, or read the logs). If you are blocked, say so with final_answer."
    )
