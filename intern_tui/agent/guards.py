"""Guards the supervisor runs at every step boundary: the doom-loop detector and context compaction."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from smolagents.memory import ActionStep, TaskStep

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


# -- compaction --------------------------------------------------------------------------------------------


class TokenEstimator:
    """A cheap estimate of what the next model call will send (about 4 characters per token).

    Step sizes are cached by identity (steps don't change once in memory), so checking at every step
    boundary costs O(new steps), not O(transcript)."""

    def __init__(self) -> None:
        self._sizes: dict[int, tuple[object, int]] = {}

    def __call__(self, agent) -> int:
        chars = len(agent.memory.system_prompt.system_prompt or "")
        sizes: dict[int, tuple[object, int]] = {}
        for step in agent.memory.steps:
            cached = self._sizes.get(id(step))
            size = cached[1] if cached is not None and cached[0] is step else _message_chars(step)
            sizes[id(step)] = (step, size)
            chars += size
        self._sizes = sizes
        return chars // 4


def _message_chars(step) -> int:
    chars = 0
    for message in step.to_messages():
        content = message.content
        if isinstance(content, list):
            chars += sum(len(str(part.get("text", ""))) for part in content)
        else:
            chars += len(str(content or ""))
    return chars


def summarize_steps(steps: list) -> str:
    """A deterministic digest of older steps: what was tried and what came of it, one line each."""
    lines = []
    for s in steps:
        if isinstance(s, ActionStep):
            thought = (s.model_output or "").split("<code>")[0].replace("Thought:", "").strip()
            outcome = (
                f"ERROR {s.error}"
                if s.error
                else (s.observations or "").replace("Execution logs:", "").strip()
            )
            lines.append(f"- step {s.step_number}: {_first_line(thought, 160)} → {_first_line(outcome, 200)}")
        elif isinstance(s, TaskStep):
            lines.append(f"- instruction: {_first_line(s.task, 240)}")
    return "\n".join(lines)


def _first_line(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def compact(agent, keep_last: int = 4) -> tuple[int, str, str] | None:
    """Replace all but the first task and the last `keep_last` action steps with one summary step.

    Returns (number of steps folded, summary, the note that replaced them), or None when there is too
    little to fold. agent/memory.py applies the recorded note the same way on resume.
    """
    steps = agent.memory.steps
    action_idx = [i for i, s in enumerate(steps) if isinstance(s, ActionStep)]
    if len(action_idx) <= keep_last + 1:
        return None
    first = 1 if steps and isinstance(steps[0], TaskStep) else 0
    cut = action_idx[-keep_last]
    folded = steps[first:cut]
    if not folded:
        return None
    summary = summarize_steps(folded)
    note = TaskStep(
        task=(
            "Context was compacted to stay within the model's window. Summary of the earlier steps:\n"
            + summary
            + "\nFiles and jobs from those steps still exist: use list_files(), read_file() and job_status()."
        )
    )
    agent.memory.steps = steps[:first] + [note] + steps[cut:]
    return len(folded), summary, note.task
