"""Job tools: launch a training script (locally or on Hugging Face Jobs), follow it, stop it.

`launch_job` spends compute, so it is sensitive: the ToolGate asks for approval first and shows the
estimate below (GPU-hours and dollars). The others only read or stop. All return plain data.
"""

from __future__ import annotations

import os
from typing import Any

from .base import ToolContext, ToolError, agent_tool

DEFAULT_HOURS = 2.0  # assumed run length when no timeout is given (and the enforced limit on HF Jobs)

# Approximate Hugging Face Jobs prices (USD per hour, pay-as-you-go, as listed on
# https://huggingface.co/pricing in 2025) and GPU counts. Estimates only: the bill is what HF charges.
HF_FLAVORS: dict[str, tuple[int, float]] = {
    "cpu-basic": (0, 0.01),
    "cpu-upgrade": (0, 0.03),
    "cpu-performance": (0, 0.50),
    "cpu-xl": (0, 1.00),
    "t4-small": (1, 0.40),
    "t4-medium": (1, 0.60),
    "l4x1": (1, 0.80),
    "l4x4": (4, 3.80),
    "l40sx1": (1, 1.80),
    "l40sx4": (4, 8.30),
    "l40sx8": (8, 23.50),
    "a10g-small": (1, 1.00),
    "a10g-large": (1, 1.50),
    "a10g-largex2": (2, 3.00),
    "a10g-largex4": (4, 5.00),
    "a100-large": (1, 2.50),
    "a100x4": (4, 10.00),
    "a100x8": (8, 20.00),
    "h200": (1, 5.00),
    "h200x2": (2, 10.00),
    "h200x4": (4, 20.00),
    "h200x8": (8, 40.00),
    "rtx-pro-6000": (1, 2.50),
    "rtx-pro-6000x2": (2, 5.00),
    "rtx-pro-6000x4": (4, 10.00),
    "rtx-pro-6000x8": (8, 20.00),
}


def _local_gpu_count() -> int:
    """GPUs a local job may use, without importing torch: CUDA_VISIBLE_DEVICES, else /dev/nvidia*."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    try:
        return sum(1 for n in os.listdir("/dev") if n.startswith("nvidia") and n[6:].isdigit())
    except OSError:
        return 0


def estimate_launch(ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
    """What a launch may cost, shown with the approval request: {"gpu_hours", "usd", "summary"}, plus the
    research guards' findings (contamination, base model) and their `flags` (see launch_guard.py)."""
    from .launch_guard import launch_checks

    estimate = cost_estimate(ctx, arguments)
    if arguments.get("secrets"):  # checked before anyone is asked: a missing token is not worth a decision
        names = sorted(_secret_values(arguments["secrets"]))
        estimate["summary"] += f" · passes secrets: {', '.join(names)}"
    checks = launch_checks(ctx, arguments) if ctx is not None else {}
    if checks.get("flags"):
        estimate["summary"] += " · ⚠ " + " · ⚠ ".join(checks["flags"])
    return {**estimate, **checks}


def cost_estimate(ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
    """GPU-hours and dollars of a launch: {"gpu_hours", "usd", "summary"}."""
    timeout = arguments.get("timeout")
    hours = float(timeout) / 3600 if timeout else DEFAULT_HOURS
    limit = f"{hours:.2g} h" + ("" if timeout else " (assumed; no timeout given)")
    if arguments.get("backend", "local") == "hf":
        flavor = arguments.get("flavor") or "cpu-basic"
        if flavor not in HF_FLAVORS:
            return {
                "backend": "hf",
                "flavor": flavor,
                "hours": round(hours, 3),
                "gpu_hours": None,
                "usd": None,
                "summary": f"HF Jobs, unknown flavor {flavor!r}: no price known; up to {limit}",
            }
        gpus, price = HF_FLAVORS[flavor]
        usd = round(price * hours, 2)
        return {
            "backend": "hf",
            "flavor": flavor,
            "gpus": gpus,
            "hours": round(hours, 3),
            "gpu_hours": round(gpus * hours, 2),
            "usd": usd,
            "summary": f"HF Jobs {flavor} (~${price:.2f}/h, {gpus} GPU) for up to {limit}: about ${usd:.2f}",
        }
    gpus = arguments.get("gpus")
    count = int(gpus) if isinstance(gpus, int) else _local_gpu_count()
    return {
        "backend": "local",
        "gpus": count,
        "hours": round(hours, 3),
        "gpu_hours": round(count * hours, 2),
        "usd": 0.0,
        "summary": f"local job on {count} GPU(s) for up to {limit}: {count * hours:.2g} GPU-hours, no charge",
    }


def _jobs(ctx: ToolContext):
    if ctx.jobs is None:
        raise ToolError("jobs are not available in this session (no job manager attached)")
    return ctx.jobs


def _secret_values(names: list[str] | None) -> dict[str, str]:
    """Values of the named secrets from our environment (HF_TOKEN also from the Hub login)."""
    if names is not None and (not isinstance(names, list) or not all(isinstance(n, str) for n in names)):
        raise ToolError("secrets must be a list of variable names, e.g. ['HF_TOKEN']")
    values = {}
    for name in names or []:
        value = os.environ.get(name)
        if value is None and name == "HF_TOKEN":
            from huggingface_hub import get_token

            value = get_token()
        if not value:
            raise ToolError(f"secret {name!r} is not set in intern-tui's environment; set it and retry")
        values[name] = value
    return values


def _pin_launch(ctx: ToolContext, arguments: dict[str, Any]) -> str | None:
    """The approval pins the script (and the workspace's Python files) that will run."""
    script = arguments.get("script")
    if not isinstance(script, str):
        return None
    return ctx.jobs.files.relative(ctx.jobs.files.resolve(script)) if ctx.jobs is not None else script


@agent_tool(sensitive=True, estimate=estimate_launch, output_type="string", pin=_pin_launch)
def launch_job(
    ctx: ToolContext,
    script: str,
    backend: str = "local",
    args: list | dict | str | None = None,
    env: dict | None = None,
    gpus: int | None = None,
    accelerate: bool = False,
    flavor: str | None = None,
    timeout: float | None = None,
    name: str | None = None,
    secrets: list | None = None,
    pinned: Any = None,
) -> str:
    """Launch a training script from the workspace as a job; returns its job id. Needs approval; the job
    runs the code as it was when approved.

    Args:
        script: Python script in the workspace, e.g. 'train_sft.py' (templates: train_sft.py, train_dpo.py,
            train_grpo.py; run them with args={'model': 'tiny', 'max-steps': 50} to try things cheaply).
        backend: 'local' (this machine) or 'hf' (Hugging Face Jobs; needs a token and a paid plan).
        args: Script arguments: a list ['--max-steps', '50'], a string, or a dict {'max-steps': 50}.
        env: Extra environment variables for the job (not secrets; not PYTHONPATH/LD_*/PYTHONSTARTUP).
        gpus: Local only: number of GPUs; more than 1 runs the script with `accelerate launch`.
        accelerate: Local only: run with `accelerate launch` even on one GPU.
        flavor: HF only: hardware, e.g. 'a10g-large', 'a100-large', 'h200' (default 'cpu-basic').
        timeout: Seconds after which the job is stopped (HF default: 2 hours).
        name: A short human name for the job.
        secrets: Names of secrets the job needs (e.g. ['HF_TOKEN'] to push or read gated models); shown in
            the approval, values taken from intern-tui's environment (or the Hub login) and never shown. A
            job gets no token it was not given here.
    """
    if backend == "hf" and timeout is None:
        timeout = DEFAULT_HOURS * 3600
    values = _secret_values(secrets)
    if ctx.redactor is not None:  # its log is redacted against what it was given, in any encoding
        ctx.redactor.add_secrets(values.values())
    job_id = _jobs(ctx).launch(
        script,
        backend=backend,
        args=args,
        env=env,
        gpus=gpus,
        accelerate=accelerate,
        flavor=flavor,
        timeout=timeout,
        name=name,
        secrets=values,
        pinned=pinned,
    )
    _report_flags(ctx, job_id, {"script": script, "args": args})
    return job_id


def _report_flags(ctx: ToolContext, job_id: str, arguments: dict[str, Any]) -> None:
    """A human approved a flagged launch: the agent still hears about the flags, as an alert."""
    from .launch_guard import launch_checks

    for flag in launch_checks(ctx, arguments).get("flags", []):
        alert = {"job_id": job_id, "kind": flag.split(":")[0].replace(" ", "_"), "severity": "warning",
                 "message": f"launched despite a guard: {flag}", "step": None, "metric": None}  # fmt: skip
        ctx.emit("alert", alert)
        if getattr(ctx.jobs, "on_alert", None) is not None:
            ctx.jobs.on_alert(alert)


@agent_tool(output_type="object")
def job_status(ctx: ToolContext, job_id: str) -> dict:
    """Status of a job: running/completed/failed/canceled/lost, exit code, error, elapsed time, latest
    main metrics and alerts.

    Args:
        job_id: The id launch_job returned, e.g. 'job-1a2b3c4d'.
    """
    return _jobs(ctx).status(job_id)


@agent_tool(output_type="string")
def job_logs(ctx: ToolContext, job_id: str, tail: int = 100) -> str:
    """The last lines of a job's output (stdout and stderr), progress bars collapsed.

    Args:
        job_id: The id launch_job returned.
        tail: How many lines (default 100, at most 5000).
    """
    return _jobs(ctx).logs(job_id, tail=tail)


@agent_tool(output_type="object")
def job_metrics(ctx: ToolContext, job_id: str) -> dict:
    """Training metrics of a job: latest value of each metric, first/min/max of the main ones (loss,
    reward, kl…), the number of logged steps, and the alerts raised so far (NaN loss, divergence, reward
    collapse, KL blow-up, stall, out of memory).

    Args:
        job_id: The id launch_job returned.
    """
    return _jobs(ctx).metrics(job_id)


@agent_tool(output_type="object")
def cancel_job(ctx: ToolContext, job_id: str) -> dict:
    """Stop a running job (its whole process group; on HF Jobs, cancel it). Returns its final status.

    Args:
        job_id: The id launch_job returned.
    """
    return _jobs(ctx).cancel(job_id)
