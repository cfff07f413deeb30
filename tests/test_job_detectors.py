"""Failure detectors: each one on synthetic series with and without its failure, and on real runs."""

from __future__ import annotations

import math

import pytest

from intern_tui.jobs.detectors import JobMonitor
from intern_tui.jobs.metrics import MetricsTracker, parse_trainer_state


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def run(series: list[dict[str, float]], **kw) -> list[dict]:
    monitor = JobMonitor("job-1", clock=Clock(), **kw)
    return [a for step, values in enumerate(series, start=1) for a in monitor.observe_metrics(step, values)]


def kinds(alerts: list[dict]) -> list[tuple[str, int | None]]:
    return [(a["kind"], a["step"]) for a in alerts]


def test_nan_loss_fires_once_and_rearms_after_recovery():
    series = [{"loss": 1.0}, {"loss": math.nan}, {"loss": math.nan}, {"loss": 0.9}, {"loss": math.inf}]
    alerts = run(series)
    assert kinds(alerts) == [("nan_loss", 2), ("nan_loss", 5)]
    a = alerts[0]
    assert a["severity"] == "critical" and a["metric"] == "loss" and a["job_id"] == "job-1"
    assert "learning rate" in a["message"]
    assert kinds(run([{"eval_loss": math.nan}]))[0][0] == "nan_loss"
    assert run([{"loss": 1.0}, {"loss": 0.5}, {"learning_rate": math.nan}]) == []


def test_loss_divergence_needs_a_sustained_rise():
    healthy = [{"loss": 3.0 - 0.1 * i} for i in range(20)]
    assert run(healthy) == []
    spikes = (
        [{"loss": 1.0}] * 10
        + [{"loss": 9.0}, {"loss": 1.0}, {"loss": 1.0}, {"loss": 9.0}]
        + [{"loss": 1.0}] * 5
    )
    assert run(spikes) == []  # isolated spikes don't move the median
    diverging = [{"loss": 1.0}] * 10 + [{"loss": 1.0 + 0.5 * i} for i in range(1, 15)]
    alerts = run(diverging)
    assert [a["kind"] for a in alerts] == ["divergence"]
    assert alerts[0]["metric"] == "loss" and alerts[0]["severity"] == "critical"
    # GRPO losses hover around zero: doubling 0.001 is not a divergence
    assert run([{"loss": 0.001 * (i % 3)} for i in range(40)]) == []


def test_grad_norm_explosion():
    assert run([{"grad_norm": 1.0 + 0.1 * (i % 4)} for i in range(30)]) == []
    series = [{"grad_norm": 1.0}] * 10 + [{"grad_norm": 50.0}]  # one spike: clipped, harmless
    assert run(series + [{"grad_norm": 1.0}] * 5) == []
    alerts = run([{"grad_norm": 1.0}] * 10 + [{"grad_norm": 50.0}, {"grad_norm": 80.0}])
    assert kinds(alerts) == [("divergence", 12)] and alerts[0]["metric"] == "grad_norm"
    assert alerts[0]["severity"] == "warning"


def test_reward_collapse_synthetic():
    learning = [{"reward": 0.1 * i, "reward_std": 0.3, "frac_reward_zero_std": 0.2} for i in range(10)]
    assert run(learning) == []
    collapsed = learning + [{"reward": 0.2, "reward_std": 0.0, "frac_reward_zero_std": 1.0}] * 4
    alerts = run(collapsed)
    assert kinds(alerts) == [("reward_collapse", 13)]
    assert alerts[0]["metric"] == "frac_reward_zero_std" and "num_generations" in alerts[0]["message"]
    # every group perfect at the best reward seen: solved, not collapsed
    solved = learning + [{"reward": 1.5, "reward_std": 0.0, "frac_reward_zero_std": 1.0}] * 5
    assert run(solved) == []
    # with a known maximum, a flat reward below it is a collapse even if it is the best so far
    flat = [{"reward": 0.5, "reward_std": 0.0}] * 4
    assert run(flat) == []  # without a known max, a positive reward at its best looks saturated
    assert kinds(run(flat, reward_max=1.0)) == [("reward_collapse", 3)]
    # reward_std alone (older TRL without frac_reward_zero_std), at zero reward
    assert kinds(run([{"reward": 0.0, "reward_std": 0.0}] * 3)) == [("reward_collapse", 3)]


def test_reward_collapse_rearms_only_after_sustained_recovery():
    bad = {"reward": 0.0, "reward_std": 0.0, "frac_reward_zero_std": 1.0}
    good = {"reward": 0.1, "reward_std": 0.2, "frac_reward_zero_std": 0.5}
    series = [good] + [bad] * 4 + [good] + [bad] * 4 + [good] * 3 + [bad] * 3
    assert kinds(run(series)) == [("reward_collapse", 4), ("reward_collapse", 16)]


def test_kl_blowup():
    steady = [{"kl": 0.001 * (1 + i / 10)} for i in range(30)]
    assert run(steady) == []
    alerts = run(steady[:10] + [{"kl": 3.0}, {"kl": 5.0}])
    assert kinds(alerts) == [("kl_blowup", 12)] and alerts[0]["metric"] == "kl"
    jump = [{"kl": 0.01}] * 10 + [{"kl": 0.5}, {"kl": 0.6}]  # under the limit, but 50x its median
    assert kinds(run(jump)) == [("kl_blowup", 12)]
    assert kinds(run([{"kl": 0.01}, {"kl": math.nan}, {"kl": math.nan}])) == [("kl_blowup", 3)]


def test_stall_uses_the_injected_clock_and_rearms_on_activity():
    clock = Clock()
    monitor = JobMonitor("job-1", clock=clock, stall_seconds=600)
    clock.now += 599
    assert monitor.tick() == []
    clock.now += 2
    alerts = monitor.tick()
    assert kinds(alerts) == [("stalled", None)] and alerts[0]["severity"] == "warning"
    clock.now += 3600
    assert monitor.tick() == []  # once per episode
    monitor.observe_line("step 10")
    clock.now += 601
    assert kinds(monitor.tick()) == [("stalled", None)]
    monitor.touch()
    assert monitor.tick() == []


@pytest.mark.parametrize(
    "line",
    [
        "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.15 GiB total)",
        "RuntimeError: CUDA error: out of memory",
        "torch.cuda.OutOfMemoryError: CUDA out of memory.",
    ],
)
def test_oom_from_log_lines(line):
    monitor = JobMonitor("job-1", clock=Clock())
    alerts = monitor.observe_line(line)
    assert kinds(alerts) == [("oom", None)]
    message = alerts[0]["message"]
    for remedy in (
        "gradient_accumulation",
        "gradient_checkpointing",
        "max_length",
        "LoRA",
        "smaller model",
        "GPUs",
    ):
        assert remedy in message
    assert monitor.observe_line(line) == []  # the traceback repeats the message: one alert
    monitor.observe_metrics(5, {"loss": 1.0})  # training continued (e.g. auto_find_batch_size)
    assert kinds(monitor.observe_line(line)) == [("oom", None)]
    assert JobMonitor("j", clock=Clock()).observe_line("memory usage is fine, no out-of-memory here") == []


# -- real runs ----------------------------------------------------------------------------------------


def _alerts_for_trainer_state(path) -> list[dict]:
    monitor = JobMonitor("j", clock=Clock())
    return [a for step, values in parse_trainer_state(path) for a in monitor.observe_metrics(step, values)]


def test_zero_std_collapse_fixture_raises_reward_collapse(fixtures_dir):
    alerts = _alerts_for_trainer_state(fixtures_dir / "grpo_zero_std_collapse_trainer_state.json")
    assert {a["kind"] for a in alerts} == {"reward_collapse"}
    assert alerts[0]["step"] == 5  # steps 3, 4, 5 had zero spread at reward 0 after 0.125 at step 2
    assert len(alerts) <= 3  # once per episode, not once per step


def test_console_collapse_log_raises_reward_collapse(fixtures_dir):
    tracker = MetricsTracker("j", hold_seconds=0)
    monitor = JobMonitor("j", clock=Clock())
    alerts = []
    for line in (
        (fixtures_dir / "console_grpo_collapse_run_terminal.md").read_text(encoding="utf-8").split("\n")
    ):
        for p in tracker.feed_log_line(line):
            alerts += monitor.observe_metrics(p["step"], p["values"])
    assert "reward_collapse" in {a["kind"] for a in alerts}


@pytest.mark.parametrize(
    "name",
    [
        "sft_trl_unsloth_nlcli_trainer_state.json",
        "grpo_chaos_economy_trainer_state.json",
        "orpo_llamafactory_chatglm_trainer_state.json",
        "grpo_no_kl_json_format_reward_trainer_state.json",
        "grpo_single_entry_old_new_keys_trainer_state.json",
    ],
)
def test_healthy_runs_raise_no_alarm(fixtures_dir, name):
    assert _alerts_for_trainer_state(fixtures_dir / name) == []


@pytest.mark.parametrize(
    "name", ["console_trl_sft_qwen3_nohup_training_truncated.log", "console_grpo_torchrun_string_values.log"]
)
def test_healthy_console_runs_raise_no_alarm(fixtures_dir, name):
    tracker = MetricsTracker("j", hold_seconds=0)
    monitor = JobMonitor("j", clock=Clock())
    alerts = []
    for line in (fixtures_dir / name).read_text(encoding="utf-8", errors="replace").split("\n"):
        alerts += monitor.observe_line(line)
        for p in tracker.feed_log_line(line):
            alerts += monitor.observe_metrics(p["step"], p["values"])
    assert alerts == []
