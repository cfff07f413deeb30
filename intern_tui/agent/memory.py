"""Rebuilding the agent's memory from stored events (resume) or from a prefix of them (fork).

The events hold everything the model saw: the task, each step's output, code and observation, the
instructions injected between steps (redirects, doom-loop corrections, alerts) and compactions. Replaying
them in order gives back the same message history the agent had, without any smolagents pickle.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from smolagents.memory import ActionStep, TaskStep
from smolagents.monitoring import Timing
from smolagents.utils import AgentError

from ..events import Event, Kind
from .compaction import apply_recorded
from .prompts import CUT_OFF_NOTE, with_reasoning

CODE_CLOSE = "</code>"
INCOMPLETE = (
    "The session stopped before this step's result was recorded. Check the workspace (list_files) and jobs "
    "(job_status) to see whether it took effect before repeating it."
)


@dataclass
class Rebuilt:
    steps: list = field(default_factory=list)
    last_step: int = 0
    turns: list[dict] = field(default_factory=list)  # the model turns, as a script: policy would replay them


class _QuietError(AgentError):
    """An AgentError rebuilt from text (smolagents' AgentError wants a logger to print to)."""

    def __init__(self, message: str):
        Exception.__init__(self, message)
        self.message = message


def rebuild_memory(events: Iterable[Event], upto_step: int | None = None) -> Rebuilt:
    out = Rebuilt()
    current: ActionStep | None = None
    complete = True
    cut_off = False  # the reply hit the output token limit: the supervisor told the model so after it

    def close_current() -> None:
        nonlocal current, complete, cut_off
        if current is not None:
            if not complete:
                current.observations = INCOMPLETE
            out.steps.append(current)
            if cut_off and complete and not current.is_final_answer:
                out.steps.append(TaskStep(task=CUT_OFF_NOTE))
        current, cut_off = None, False

    for e in events:
        if upto_step is not None and e.step is not None and e.step > upto_step:
            break
        p = e.payload
        if e.kind == Kind.TASK:
            out.steps.append(TaskStep(task=p.get("task", "")))
        elif e.kind == Kind.MODEL_OUTPUT:
            close_current()
            text = p.get("text", "")
            if text and not text.strip().endswith(CODE_CLOSE):  # as smolagents stores a reply cut at the stop
                text += CODE_CLOSE
            if p.get("reasoning_in_history") and p.get("reasoning"):
                text = with_reasoning(text, p["reasoning"])
            current = ActionStep(
                step_number=e.step or 0,
                timing=Timing(start_time=e.ts, end_time=e.ts),
                model_output=text,
            )
            complete = False
            cut_off = p.get("finish_reason") == "length"
            out.last_step = max(out.last_step, e.step or 0)
            out.turns.append({"thought": p.get("thought", ""), "code": "", "step": e.step})
        elif e.kind == Kind.CODE_ACTION and current is not None:
            current.code_action = p.get("code", "")  # no tool_calls echo: the reply already has the code
            if out.turns:
                out.turns[-1]["code"] = current.code_action
        elif e.kind == Kind.OBSERVATION and current is not None:
            current.observations = p.get("text") or None
            if p.get("error"):
                current.error = _QuietError(p["error"])
            current.is_final_answer = bool(p.get("final"))
            complete = True
            close_current()
        elif e.kind == Kind.REDIRECTED and p.get("phase") == "delivered":
            close_current()
            out.steps.append(
                TaskStep(task=f"New instruction from the user (takes priority): {p.get('text', '')}")
            )
        elif e.kind == Kind.DOOM_LOOP:
            close_current()
            out.steps.append(TaskStep(task=p.get("instruction", "")))
        elif e.kind == Kind.ALERT and p.get("delivered"):
            close_current()
            out.steps.append(TaskStep(task=f"Alert from the job monitor: {p.get('message')}"))
        elif e.kind == Kind.COMPACTED and p.get("note"):
            close_current()
            _apply_compaction(out, p)
    close_current()
    return out


def _apply_compaction(out: Rebuilt, payload: dict) -> None:
    """Fold and shrink exactly as the recorded compaction did."""
    out.steps = apply_recorded(out.steps, payload)
