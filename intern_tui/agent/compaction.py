"""Keeping the transcript inside the model's window: a calibrated token estimate and compaction.

Compaction folds older steps into a one-line-per-step summary (earlier summaries are carried forward,
oldest lines dropped first), keeps the most recent steps whole, and, when even those are too big (a huge
observation), shrinks them to head and tail. It goes as far as needed to reach the target: fewer kept
steps, then smaller caps, then a shorter summary. What it did is recorded (`keep_from_step`,
`shrink_chars`, the note) so `memory.py` rebuilds exactly the same memory on resume.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from smolagents.memory import ActionStep, TaskStep

from ..events import Kind

NOTE_HEAD = "Context was compacted to stay within the model's window. Summary of the earlier steps:\n"
NOTE_TAIL = "\nFiles and jobs from those steps still exist: use list_files(), read_file() and job_status()."
SHRINK_CAPS = (6000, 3000, 1500, 600, 200)  # characters kept of each kept step's observation (output: 2×)


class TokenEstimator:
    """What the next model call will send, in tokens: about 4 characters a token, corrected by the real
    prompt sizes servers report (`calibrate`). Step sizes are cached by identity (a step never changes
    once in memory; compaction replaces shrunk steps with new objects), so a check is O(new steps)."""

    def __init__(self) -> None:
        self.scale = 1.0
        self._sizes: dict[int, tuple[object, int]] = {}

    def for_chars(self, chars: int) -> int:
        return int(chars / 4 * self.scale)

    def chars_for(self, tokens: int) -> int:
        return int(tokens * 4 / self.scale)

    def calibrate(self, prompt_chars: int, input_tokens: int) -> None:
        if prompt_chars < 2000 or input_tokens <= 0:  # too small to say anything about the ratio
            return
        ratio = input_tokens / (prompt_chars / 4)
        self.scale = min(3.0, max(0.5, 0.5 * self.scale + 0.5 * ratio))

    def chars(self, agent) -> int:
        total = len(agent.memory.system_prompt.system_prompt or "")
        sizes: dict[int, tuple[object, int]] = {}
        for step in agent.memory.steps:
            cached = self._sizes.get(id(step))
            size = cached[1] if cached is not None and cached[0] is step else step_chars(step)
            sizes[id(step)] = (step, size)
            total += size
        self._sizes = sizes
        return total

    def __call__(self, agent) -> int:
        return self.for_chars(self.chars(agent))


def step_chars(step) -> int:
    chars = 0
    for message in step.to_messages():
        content = message.content
        if isinstance(content, list):
            chars += sum(len(str(part.get("text", ""))) for part in content)
        else:
            chars += len(str(content or ""))
    return chars


def drop_tool_call_echo(step: ActionStep) -> None:
    """smolagents sends a CodeAgent step's code twice: in the model's reply and again as a "Calling
    tools: [...]" message (escaped, so longer). The reply already has it; the echo only costs tokens."""
    step.tool_calls = None


@dataclass
class Compaction:
    folded: int
    keep_from_step: int
    shrink_chars: int | None
    summary: str
    note: str
    chars_before: int
    chars_after: int


def compact(agent, target_chars: int, keep_last: int = 4) -> Compaction | None:
    """Make the transcript at most `target_chars` (system prompt included), or as small as it can be.
    Returns None when there is nothing to fold or shrink."""
    steps = agent.memory.steps
    system = len(agent.memory.system_prompt.system_prompt or "")
    before = system + sum(step_chars(s) for s in steps)
    first = 1 if steps and isinstance(steps[0], TaskStep) else 0
    action_idx = [i for i, s in enumerate(steps) if isinstance(s, ActionStep) and i >= first]
    if not action_idx:
        return None
    head = steps[:first]
    head_chars = system + sum(step_chars(s) for s in head)
    summary_budget = max(1500, target_chars // 5)
    best = None
    # Prefer whole recent steps (fewer of them) to shrunk ones; shrink only when one step alone is too big.
    for cap in (None, *SHRINK_CAPS):
        for keep in range(min(keep_last, len(action_idx)), 0, -1):
            cut = action_idx[-keep]
            kept = [shrink_step(s, cap) for s in steps[cut:]] if cap else list(steps[cut:])
            lines = summary_lines(steps[first:cut])
            note_budget = max(summary_budget, target_chars - head_chars - sum(step_chars(s) for s in kept))
            # room for the "New task:" prefix smolagents adds and the line counting what was left out
            summary = fit_lines(lines, note_budget - len(NOTE_HEAD) - len(NOTE_TAIL) - 80)
            note = [TaskStep(task=NOTE_HEAD + summary + NOTE_TAIL)] if lines else []
            candidate = head + note + kept
            size = system + sum(step_chars(s) for s in candidate)
            best = (candidate, cut, cap, summary, note, size)
            if size <= target_chars:
                break
        if best[5] <= target_chars:
            break
    candidate, cut, cap, summary, note, size = best
    if size >= before:
        return None
    agent.memory.steps = candidate
    return Compaction(
        folded=cut - first,
        keep_from_step=steps[cut].step_number,
        shrink_chars=cap,
        summary=summary,
        note=note[0].task if note else "",
        chars_before=before,
        chars_after=size,
    )


def apply_recorded(steps: list, payload: dict) -> list:
    """Redo a recorded compaction on rebuilt steps (resume/fork): same fold, same shrink."""
    first = 1 if steps and isinstance(steps[0], TaskStep) else 0
    keep_from = payload.get("keep_from_step")
    action_idx = [i for i, s in enumerate(steps) if isinstance(s, ActionStep) and i >= first]
    if keep_from is None:  # recorded before keep_from_step existed: the last four steps were kept
        if len(action_idx) <= 4:
            return steps
        cut = action_idx[-4]
    else:
        cut = next((i for i in action_idx if steps[i].step_number >= keep_from), len(steps))
    cap = payload.get("shrink_chars")
    kept = [shrink_step(s, cap) for s in steps[cut:]] if cap else steps[cut:]
    note = [TaskStep(task=payload["note"])] if payload.get("note") else []
    return steps[:first] + note + kept


def shrink_step(step, cap: int | None):
    if not cap or not isinstance(step, ActionStep):
        return step
    observations = clip_middle(step.observations, cap)
    output = (
        clip_middle(step.model_output, cap * 2) if isinstance(step.model_output, str) else step.model_output
    )
    if observations == step.observations and output == step.model_output:
        return step
    return replace(step, observations=observations, model_output=output)


def clip_middle(text: str | None, limit: int) -> str | None:
    if text is None or len(text) <= limit:
        return text
    head = limit * 2 // 3
    tail = limit - head
    cut = len(text) - head - tail
    return f"{text[:head]}\n… [{cut:,} characters cut to fit the context window] …\n{text[-tail:]}"


def summary_lines(steps: list) -> list[str]:
    """One line per folded step; the lines of earlier summaries are carried forward as they were."""
    lines: list[str] = []
    for s in steps:
        if isinstance(s, ActionStep):
            thought = (s.model_output or "").split("<code>")[0].replace("Thought:", "").strip()
            outcome = (
                f"ERROR {s.error}"
                if s.error
                else (s.observations or "").replace("Execution logs:", "").strip()
            )
            lines.append(f"- step {s.step_number}: {first_line(thought, 160)} → {first_line(outcome, 200)}")
        elif isinstance(s, TaskStep) and s.task.startswith(NOTE_HEAD):
            body = s.task[len(NOTE_HEAD) :]
            body = body[: -len(NOTE_TAIL)] if body.endswith(NOTE_TAIL) else body
            lines.extend(line for line in body.splitlines() if line.strip())
        elif isinstance(s, TaskStep):
            lines.append(f"- instruction: {first_line(s.task, 240)}")
    return lines


def fit_lines(lines: list[str], budget: int) -> str:
    """The newest lines that fit in `budget` characters, after one line counting those left out (earlier
    compactions' counts included)."""
    omitted = 0
    plain = []
    for line in lines:
        found = _OMITTED.match(line)
        if found:
            omitted += int(found.group(1))
        else:
            plain.append(line)
    kept: list[str] = []
    used = 0
    for line in reversed(plain):
        if used + len(line) + 1 > budget and kept:
            break
        kept.append(line)
        used += len(line) + 1
    kept.reverse()
    omitted += len(plain) - len(kept)
    if omitted:
        kept.insert(0, f"- ({omitted} earlier lines left out to fit the window)")
    return "\n".join(kept)


_OMITTED = re.compile(r"^- \((\d+) earlier lines left out")


def first_line(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


class ContextKeeper:
    """The model's window and how full it is, for one session: decides when to compact and records it.

    The prompt must leave room for the reply (`reserve`); compaction starts at `compact_at` of what is
    left and aims for half of it, so it runs rarely and each time buys many steps."""

    def __init__(
        self, window: int, source: str = "default", *, compact_at: float = 0.75, reserve: int | None = None
    ):
        self.window = window
        self.source = source
        self.compact_at = compact_at
        self._reserve = reserve
        self.estimate = TokenEstimator()

    @property
    def reserve(self) -> int:
        return self._reserve if self._reserve is not None else min(4096, self.window // 8)

    @property
    def budget(self) -> int:
        return max(256, self.window - self.reserve)

    def over_threshold(self, agent) -> bool:
        return self.estimate(agent) >= self.budget * self.compact_at

    def learned_limit(self, limit: int | None) -> None:
        """The server named its window in an error: believe it."""
        if limit and limit < self.window:
            self.window, self.source = limit, "server error"

    def compact(self, agent, emitter, reason: str, pressure: int = 0) -> Compaction | None:
        """Compact towards half the budget (less at each `pressure` level: repeated overflows) and emit
        `compacted`."""
        before = self.estimate(agent)
        target_tokens = int(self.budget * (0.5, 0.35, 0.25, 0.15)[min(pressure, 3)])
        result = compact(agent, self.estimate.chars_for(target_tokens))
        if result is None:
            return None
        emitter.emit(
            Kind.COMPACTED,
            {
                "folded_steps": result.folded,
                "tokens_before": before,
                "tokens_after": self.estimate(agent),
                "target_tokens": target_tokens,
                "window": self.window,
                "window_source": self.source,
                "reason": reason,
                "keep_from_step": result.keep_from_step,
                "shrink_chars": result.shrink_chars,
                "summary": result.summary,
                "note": result.note,
            },
        )
        return result
