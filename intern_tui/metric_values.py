"""Facts about training metrics that every reader shares: the job watchers and the agent's job summary,
the dashboard (live and replay), the headless printer.

A leaf module (nothing of ours imported), so the dashboard uses it without importing the jobs package.
"""

from __future__ import annotations

from typing import Any

# The metrics that say how a run is going, most telling first. The agent's job summary keeps all of them,
# a headless metric line prints those a record has, the Jobs pane's row the first two.
HEADLINE_METRICS = (
    "loss",
    "reward",
    "eval_loss",
    "reward_std",
    "frac_reward_zero_std",
    "kl",
    "grad_norm",
    "learning_rate",
    "mean_token_accuracy",
    "rewards/accuracies",
    "rewards/margins",
    "epoch",
)


def to_number(value: Any) -> float | None:
    """A metric value as a float: numbers and numeric strings ('0.2013', '4.02e+04', 'nan'); None for
    anything else (booleans included). Real trainers log all of these (transformers 5 prints strings)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None
