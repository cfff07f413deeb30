"""Job tools: launch a training script (locally or on Hugging Face Jobs), follow it, stop it.

`launch_job` spends compute, so it is sensitive: the ToolGate asks for approval first and shows the
estimate below (GPU-hours and dollars). The others only read or stop. All return plain data.
"""

from __future__ import annotations

import os
from typing import Any

from ..jobs.costs import DEFAULT_HOURS, HF_FLAVORS, estimate_hf, estimate_local, estimate_slurm
from .base import ToolContext, ToolError, agent_tool

__all__ = ["DEFAULT_HOURS", "HF_FLAVORS"]


def estimate_launch(ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
    """What a launch may cost, shown with the approval request: {"gpu_hours", "usd", "summary"}, plus the
    research guards' findings (contamination, base model) and their `flags` (see launch_guard.py)."""
    from .launch_guard import launch_checks

    estimate = cost_estimate(ctx, arguments)
    if arguments.get("secrets"):  # checked before anyone is asked: a missing token is not worth a decision
        names = sorted(_secret_values(arguments["secrets"]))
        estimate["summary"] += f" · passes secrets: {', '.join(names)}"
    checks = launch_checks(ctx, arguments) if ctx is not None else {}
    # A backend's own flags (an HF billing refusal earlier in the session) and the research guards' ones:
    # any of them means a human decides.
    flags = [*estimate.pop("flags", []), *checks.pop("flags", [])]
    if flags:
        estimate["summary"] += " · ⚠ " + " · ⚠ ".join(flags)
        checks["flags"] = flags
    return {**estimate, **checks}


def cost_estimate(ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
    """GPU-hours and dollars of a launch: {"gpu_hours", "usd", "summary"}, from the chosen backend."""
    backend = arguments.get("backend", "local") or "local"
    jobs = getattr(ctx, "jobs", None) if ctx is not None else None
    if jobs is not None and hasattr(jobs, "estimate"):
        return jobs.estimate(arguments)
    if backend == "hf":
        return estimate_hf(arguments)
    if backend == "slurm":
        return estimate_slurm(arguments)
    return estimate_local(arguments)


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
    nodes: int | None = None,
    launcher: str | None = None,
    namespace: str | None = None,
    partition: str | None = None,
    pinned: Any = None,
) -> str:
    """Launch a training script from the workspace as a job; returns its job id. Needs approval; the job
    runs the code as it was when approved.

    Args:
        script: Python script in the workspace, e.g. 'train_sft.py' (templates: train_sft.py, train_dpo.py,
            train_grpo.py; run them with args={'model': 'tiny', 'max-steps': 50} to try things cheaply).
        backend: 'local' (this machine), 'hf' (Hugging Face Jobs; needs a token and a paid plan) or
            'slurm' (a Slurm cluster through sbatch; the workspace must be on a shared filesystem).
        args: Script arguments: a list ['--max-steps', '50'], a string, or a dict {'max-steps': 50}.
        env: Extra environment variables for the job (not secrets; not PYTHONPATH/LD_*/PYTHONSTARTUP).
        gpus: Local and Slurm: number of GPUs (per node on Slurm); locally they are chosen among the free
            ones (an error says which are busy); more than 1 starts one process per GPU (`accelerate
            launch`, or torchrun with launcher='torchrun'); 0 hides the GPUs.
        accelerate: Local and Slurm: run with `accelerate launch` even on one GPU.
        flavor: HF only: hardware, e.g. 'a10g-large', 'a100-large', 'h200' (default 'cpu-basic').
        timeout: Seconds after which the job is stopped (HF default: 2 hours; Slurm: also its --time).
        name: A short human name for the job.
        secrets: Names of secrets the job needs (e.g. ['HF_TOKEN'] to push or read gated models); shown in
            the approval, values taken from intern-tui's environment (or the Hub login) and never shown. A
            job gets no token it was not given here.
        nodes: Slurm only: number of nodes (one torchrun per node, `gpus` processes each).
        launcher: 'accelerate' (default for several GPUs) or 'torchrun'.
        namespace: HF only: the user or organisation billed (default: config [hf] namespace, else the
            token's account). A payment/quota refusal stops: ask the human, never switch namespace.
        partition: Slurm only: the partition (default: config [slurm] partition).
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
        **{
            k: v
            for k, v in (
                ("nodes", nodes),
                ("launcher", launcher),
                ("namespace", namespace),
                ("partition", partition),
            )
            if v is not None
        },  # fmt: skip
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
