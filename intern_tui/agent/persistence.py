"""The persistence guard: a final answer given before the goal is met, while steps and compute remain, is
sent back once with a nudge to keep going (configurable: `[research] persistence_nudges`, default 1 for
LLM sessions, 0 for `script:` policies, which replay fixed turns).

PostTrainBench's agents often stop early; reprompting them to continue pays. "The goal is met" is judged
from evidence the session produced: an evaluation of a trained model that beats the base model on every
benchmark evaluated. The guard is one of smolagents' `final_answer_checks`: a rejected answer becomes the
step's error (the agent reads the nudge) and the loop goes on.
"""

from __future__ import annotations

from typing import Any

from ..events import Kind

DEFAULT_NUDGES = 1
MIN_STEPS_LEFT = 3  # with fewer steps left the answer is accepted: the budget is as good as spent


def goal_unmet(workspace) -> str | None:
    """Why the session's own evidence says the goal is not met yet, or None when it is."""
    from ..telemetry.evals import results_table
    from ..tools.evaluate import collect

    results, _ = collect(workspace)
    rows = results_table(results)
    trained = [row for row in rows if row["models"]]
    if not trained:
        return (
            "no trained model has been evaluated on a benchmark yet (evaluate(model, benchmark, baseline=…))"
        )
    for row in trained:
        best = max((m["score"] for m in row["models"] if m["score"] is not None), default=None)
        base = (row["base"] or {}).get("score")
        if base is None:
            return f"{row['benchmark']} has no base-model score to compare with (evaluate the base model too)"
        if best is None or best <= base:
            return f"the best {row['benchmark']} score ({best}) does not beat the base model's ({base})"
    return None


class PersistenceGuard:
    """A smolagents final-answer check (see the module docstring)."""

    __name__ = "persistence_guard"  # smolagents names the check in the error the agent reads

    def __init__(self, supervisor, workspace, budget=None, nudges: int = DEFAULT_NUDGES):
        self.supervisor = supervisor
        self.workspace = workspace
        self.budget = budget
        self.nudges = nudges
        self.used = 0

    def budget_left(self) -> str | None:
        """What is left to spend, or None when the steps or the GPU/dollar budget are used up."""
        sup = self.supervisor
        steps_left = sup.max_steps - sup.step
        if steps_left < MIN_STEPS_LEFT:
            return None
        left = f"{steps_left} of {sup.max_steps} steps"
        b = self.budget
        if b is not None and b.gpu_hours is not None:
            if b.spent_gpu_hours >= b.gpu_hours - 1e-9:
                return None
            left += f" and {b.gpu_hours - b.spent_gpu_hours:.2g} GPU-hours"
        if b is not None and b.usd is not None:
            if b.spent_usd >= b.usd - 1e-9:
                return None
            left += f" and ${b.usd - b.spent_usd:.2f}"
        return left

    def __call__(self, final_answer: Any, memory: Any = None, agent: Any = None) -> bool:
        if self.used >= self.nudges:
            return True
        left = self.budget_left()
        if left is None:
            return True
        why = goal_unmet(self.workspace)
        if why is None:
            return True
        self.used += 1
        instruction = (
            f"Not done yet: {why}. You still have {left} left. Keep working towards the goal: diagnose the "
            "last result, change one thing, train and evaluate again. If you are sure the goal cannot be "
            "reached, call final_answer again and say why."
        )
        self.supervisor.emitter.emit(
            Kind.NUDGED, {"reason": why, "left": left, "instruction": instruction, "nudge": self.used}
        )
        raise ValueError(instruction)


def install_persistence_guard(agent, supervisor, ctx, options) -> PersistenceGuard | None:
    """Attach the guard to the agent's final-answer checks, configured from the session's settings."""
    from ..tools.benchmarks import research_setting

    default = 0 if options.model.startswith("script:") else DEFAULT_NUDGES
    try:
        nudges = int(research_setting(ctx.settings, "persistence_nudges", default))
    except (TypeError, ValueError):
        nudges = default
    if nudges <= 0:
        return None
    guard = PersistenceGuard(supervisor, ctx.workspace, budget=options.budget, nudges=nudges)
    agent.final_answer_checks.append(guard)
    return guard
