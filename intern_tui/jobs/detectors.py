"""Failure detectors: turn a job's metric stream and log lines into `alert` payloads.

Pure (no I/O); time comes from an injected clock. Every alert fires once per episode: a detector that
fired stays quiet until the condition has been healthy again for `rearm_after` logging steps.

Rules (chosen to be quiet on healthy real runs — see tests/test_job_detectors.py against the fixtures):
- nan_loss (critical): any `*loss` value is NaN or ±inf.
- divergence (critical) — loss: the median of the last 5 `loss` values is at least twice the lowest such
  median seen so far AND at least 0.5 above it, for 3 logging steps in a row. Medians ignore single
  spikes; the absolute margin keeps near-zero losses (GRPO) from tripping a ratio.
- divergence (warning) — gradients: `grad_norm` above 10× the median of its previous (≥5, up to 20)
  values and above 1.0, for 2 logging steps in a row.
- reward_collapse (critical): GRPO groups carry no learning signal — `frac_reward_zero_std` ≥ 0.95 (or,
  without it, `reward_std` ≈ 0) for 3 logging steps in a row while the reward is not at its maximum:
  below `reward_max` when given, else below the best reward logged so far, or ≤ 0.
- kl_blowup (warning): `kl` non-finite, above `kl_limit` (1.0), or above 0.2 and 20× the median of its
  previous (≥5) values, for 2 logging steps in a row.
- stalled (warning): no log output and no metric for `stall_seconds` while the job runs.
- oom (critical): a log line says CUDA/accelerator out of memory. Re-armed by a later metric.
"""

from __future__ import annotations

import math
import re
import statistics
import time
from collections import deque
from collections.abc import Callable
from typing import Any

OOM_PATTERN = re.compile(
    r"CUDA out of memory|OutOfMemoryError|CUDA error: out of memory|(?:MPS|HIP|XPU) backend out of memory"
    r"|HIP out of memory|CUBLAS_STATUS_ALLOC_FAILED",
)

OOM_ADVICE = (
    "Fixes, cheapest first: (1) halve per_device_train_batch_size and double gradient_accumulation_steps "
    "(same effective batch); (2) enable gradient_checkpointing=True; (3) lower max_length / "
    "max_completion_length; (4) train LoRA adapters (peft) or QLoRA (4-bit) instead of full fine-tuning; "
    "(5) use a smaller model; (6) use more GPUs or a bigger flavor (e.g. a100-large, h200)."
)


class Episode:
    """Once-per-episode firing: fire after `trigger_after` bad observations in a row, then stay quiet until
    `rearm_after` good ones in a row."""

    def __init__(self, trigger_after: int = 1, rearm_after: int = 1) -> None:
        self.trigger_after = trigger_after
        self.rearm_after = rearm_after
        self.active = False
        self.bad = 0
        self.good = 0

    def update(self, bad: bool) -> bool:
        """Record one observation; True exactly when the alert should fire now."""
        if bad:
            self.bad += 1
            self.good = 0
            if not self.active and self.bad >= self.trigger_after:
                self.active = True
                return True
        else:
            self.good += 1
            self.bad = 0
            if self.active and self.good >= self.rearm_after:
                self.active = False
        return False


def _fmt(x: float) -> str:
    return f"{x:.4g}"


class JobMonitor:
    """All detectors of one job. Feed it metrics (`observe_metrics`), log lines (`observe_line`) and time
    (`tick`); each returns the alert payloads to emit now."""

    def __init__(
        self,
        job_id: str,
        *,
        clock: Callable[[], float] = time.time,
        stall_seconds: float = 900.0,
        reward_max: float | None = None,
        kl_limit: float = 1.0,
    ) -> None:
        self.job_id = job_id
        self.clock = clock
        self.stall_seconds = stall_seconds
        self.reward_max = reward_max
        self.kl_limit = kl_limit
        self.last_activity = clock()
        self._nan = Episode(1, 1)
        self._loss_div = Episode(3, 3)
        self._grad_div = Episode(2, 3)
        self._collapse = Episode(3, 3)
        self._kl = Episode(2, 3)
        self._stall = Episode(1, 1)
        self._oom = Episode(1, 1)
        self._losses: deque[float] = deque(maxlen=5)
        self._best_loss_median: float | None = None
        self._grad_norms: deque[float] = deque(maxlen=20)
        self._kls: deque[float] = deque(maxlen=20)
        self._best_reward: float | None = None

    # -- inputs -----------------------------------------------------------------------------------

    def observe_metrics(self, step: int | None, values: dict[str, float]) -> list[dict[str, Any]]:
        self.last_activity = self.clock()
        self._stall.update(False)
        self._oom.update(False)  # training went on after the OOM message (e.g. auto_find_batch_size)
        alerts: list[dict[str, Any]] = []
        self._check_nan(step, values, alerts)
        self._check_loss(step, values, alerts)
        self._check_grad_norm(step, values, alerts)
        self._check_collapse(step, values, alerts)
        self._check_kl(step, values, alerts)
        return alerts

    def observe_line(self, line: str) -> list[dict[str, Any]]:
        self.last_activity = self.clock()
        self._stall.update(False)
        if OOM_PATTERN.search(line) and self._oom.update(True):
            return [
                self._alert(
                    "oom",
                    "critical",
                    f"the job ran out of GPU memory ({line.strip()[:160]}). {OOM_ADVICE}",
                    None,
                    None,
                )
            ]
        return []

    def touch(self) -> None:
        """Something happened (e.g. progress output without a full line): the job is not stalled."""
        self.last_activity = self.clock()
        self._stall.update(False)

    def tick(self, now: float | None = None) -> list[dict[str, Any]]:
        now = self.clock() if now is None else now
        idle = now - self.last_activity
        if idle >= self.stall_seconds and self._stall.update(True):
            minutes = idle / 60
            return [
                self._alert(
                    "stalled",
                    "warning",
                    f"no log output and no metrics for {minutes:.0f} min: the job may be hung (a deadlock in "
                    "data loading or NCCL, a stuck download, a prompt waiting for input). Read job_logs(); "
                    "cancel_job() and relaunch if it does not recover.",
                    None,
                    None,
                )
            ]
        return []

    # -- detectors --------------------------------------------------------------------------------

    def _check_nan(self, step: int | None, values: dict[str, float], alerts: list) -> None:
        losses = {k: v for k, v in values.items() if k == "loss" or k.endswith("loss")}
        if not losses:
            return
        bad = [k for k, v in losses.items() if not math.isfinite(v)]
        if self._nan.update(bool(bad)):
            name = bad[0]
            alerts.append(
                self._alert(
                    "nan_loss",
                    "critical",
                    f"{name} is {losses[name]} at step {step}: training has numerically broken down and "
                    "will not recover. Cancel the job, then lower the learning rate (e.g. ÷10), keep gradient "
                    "clipping on (max_grad_norm=1.0), prefer bf16 over fp16, and check the data for empty or "
                    "broken rows.",
                    step,
                    name,
                )
            )

    def _check_loss(self, step: int | None, values: dict[str, float], alerts: list) -> None:
        loss = values.get("loss")
        if loss is None or not math.isfinite(loss):
            return
        self._losses.append(loss)
        if len(self._losses) < self._losses.maxlen:
            return
        median = statistics.median(self._losses)
        best = self._best_loss_median = (
            median if self._best_loss_median is None else min(self._best_loss_median, median)
        )
        bad = median >= 2 * best and median - best >= 0.5
        if self._loss_div.update(bad):
            alerts.append(
                self._alert(
                    "divergence",
                    "critical",
                    f"loss is diverging: its recent median {_fmt(median)} at step {step} is more than twice its "
                    f"best ({_fmt(best)}). Cancel and relaunch with a lower learning rate (÷3 to ÷10), more "
                    "warmup, or gradient clipping (max_grad_norm=1.0); resume from the last good checkpoint.",
                    step,
                    "loss",
                )
            )

    def _check_grad_norm(self, step: int | None, values: dict[str, float], alerts: list) -> None:
        g = values.get("grad_norm")
        if g is None or not math.isfinite(g):
            return  # fp16 overflow steps log inf and are skipped by the scaler: not a divergence by itself
        history = [x for x in self._grad_norms]
        self._grad_norms.append(g)
        if len(history) < 5:
            return
        median = statistics.median(history)
        bad = median > 0 and g > 10 * median and g > 1.0
        if self._grad_div.update(bad):
            alerts.append(
                self._alert(
                    "divergence",
                    "warning",
                    f"gradient norm exploded: {_fmt(g)} at step {step}, over 10× its recent median "
                    f"({_fmt(median)}). Watch the loss; if it rises, lower the learning rate and keep "
                    "max_grad_norm=1.0.",
                    step,
                    "grad_norm",
                )
            )

    def _check_collapse(self, step: int | None, values: dict[str, float], alerts: list) -> None:
        frac = values.get("frac_reward_zero_std")
        std = values.get("reward_std")
        if frac is None and std is None:
            return
        reward = values.get("reward")
        if reward is not None and math.isfinite(reward):
            self._best_reward = reward if self._best_reward is None else max(self._best_reward, reward)
        flat = frac >= 0.95 if frac is not None else abs(std) <= 1e-6
        at_max = False
        if reward is not None:
            if self.reward_max is not None:
                at_max = reward >= self.reward_max - 1e-6
            else:
                at_max = reward > 0 and reward >= (self._best_reward or reward) - 1e-6
        if self._collapse.update(flat and not at_max):
            what = f"frac_reward_zero_std={_fmt(frac)}" if frac is not None else f"reward_std={_fmt(std)}"
            where = (
                f" at reward {_fmt(reward)} (best so far {_fmt(self._best_reward)})"
                if reward is not None
                else ""
            )
            alerts.append(
                self._alert(
                    "reward_collapse",
                    "critical",
                    f"GRPO reward collapse: {what} for {self._collapse.trigger_after} logging steps in a row"
                    f"{where} — every completion in a group gets the same reward, so there is no learning "
                    "signal. Try: a denser reward with partial credit, more generations per prompt "
                    "(num_generations) or a higher temperature, easier prompts, a lower learning rate; check "
                    "the reward function on a few real completions. Consider cancelling.",
                    step,
                    "frac_reward_zero_std" if frac is not None else "reward_std",
                )
            )

    def _check_kl(self, step: int | None, values: dict[str, float], alerts: list) -> None:
        kl = values.get("kl")
        if kl is None:
            return
        history = list(self._kls)
        if math.isfinite(kl):
            self._kls.append(kl)
        median = statistics.median(history) if len(history) >= 5 else None
        jump = median is not None and kl > 0.2 and kl > 20 * max(median, 1e-12)
        bad = not math.isfinite(kl) or kl > self.kl_limit or jump
        if self._kl.update(bad):
            alerts.append(
                self._alert(
                    "kl_blowup",
                    "warning",
                    f"KL to the reference model blew up: kl={_fmt(kl)} at step {step}. The policy is drifting "
                    "away fast (reward hacking or too large updates). Lower the learning rate, raise beta, or "
                    "reduce num_iterations; inspect recent completions.",
                    step,
                    "kl",
                )
            )

    def _alert(
        self, kind: str, severity: str, message: str, step: int | None, metric: str | None
    ) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "kind": kind,
            "severity": severity,
            "message": message,
            "step": step,
            "metric": metric,
        }
