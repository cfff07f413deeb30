"""Benchmark evaluation: `evaluate` runs the eval template as a job, `eval_results` reads the scores.

An evaluation spends compute like a training run, so `evaluate` is sensitive (approval, with the same
GPU-hour/dollar estimate as `launch_job`) and runs on the same backends through the JobManager. The job
prints one `@@intern-tui-eval@@ {json}` line per model scored; the job watcher turns each into an
`eval_result` event (live, and again after a resume, since it comes from the job's own log), which the
dashboard shows as a table: benchmark × model, the base model's score beside.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..telemetry.evals import parse_eval_line, results_table
from .base import ToolContext, ToolError, agent_tool
from .benchmarks import mark_in_use, resolve
from .jobs import DEFAULT_HOURS, _jobs, cost_estimate

EVAL_SCRIPT = "templates/eval_model.py"
_JOB_ID = re.compile(r"^job-[0-9a-f]{8}$")
_JOB_PATH = re.compile(r"^(?:\./)?jobs/(job-[0-9a-f]+)/output(?:/(.+?))?/?$")


def model_label(model: str) -> str:
    """How tables name a model: a workspace checkpoint by its job (`job-1a2b/tiny-init`), else its id."""
    found = _JOB_PATH.match(model)
    if found:
        return found.group(1) + (f"/{found.group(2)}" if found.group(2) else "")
    return model.rstrip("/")


def _resolve_model(ctx: ToolContext, model: str, backend: str) -> str:
    if not isinstance(model, str) or not model.strip():
        raise ToolError("model must be a Hub id, a workspace path or a job id (its output is evaluated)")
    model = model.strip()
    if _JOB_ID.match(model):
        model = f"jobs/{model}/output"
    local = (ctx.workspace / model).resolve()
    is_local = local.is_relative_to(ctx.workspace.resolve()) and local.exists()
    if model.startswith(("/", "~")) or ".." in Path(model).parts:
        raise ToolError(f"model {model!r}: use a path inside the workspace, a job id or a Hub id")
    if not is_local and (model.startswith(("jobs/", "./")) or model.count("/") > 1):
        raise ToolError(f"no model at {model!r} in the workspace (job_status(job)['output_dir'] names it)")
    if is_local and backend == "hf":
        raise ToolError(
            f"{model!r} is a workspace folder, which an HF job can't read: push_to_hub() it and evaluate the repo"
        )
    return model


def _validate(ctx: ToolContext, model: Any, benchmark: Any, limit: Any, baseline: Any, backend: str):
    bench = resolve(benchmark)
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise ToolError("limit must be a whole number ≥ 1, or None for the whole benchmark")
    if backend not in ("local", "hf", "slurm"):
        raise ToolError(f"backend must be 'local', 'hf' or 'slurm', not {backend!r}")
    if backend == "hf" and bench.engine == "bundled":
        raise ToolError(
            f"{bench.name} is a bundled benchmark (its items are files here): run it with backend='local'"
        )
    resolved_baseline = _resolve_model(ctx, baseline, backend) if baseline else None
    return bench, _resolve_model(ctx, model, backend), resolved_baseline


def estimate_evaluate(ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
    """The cost, like a launch's; a bad benchmark, model or limit is refused before anyone is asked."""
    _validate(ctx, arguments.get("model"), arguments.get("benchmark"), arguments.get("limit"),
              arguments.get("baseline"), arguments.get("backend") or "local")  # fmt: skip
    estimate = cost_estimate(ctx, arguments)
    estimate["summary"] = f"evaluate on {arguments.get('benchmark')}: {estimate['summary']}"
    return estimate


def _pin_eval(ctx: ToolContext, arguments: dict[str, Any]) -> str:
    """The approval pins the eval script (installed from the templates if the workspace lacks it)."""
    from ..templates import install

    if not (ctx.workspace / EVAL_SCRIPT).is_file():
        install(ctx.workspace / "templates")
    return EVAL_SCRIPT


@agent_tool(sensitive=True, estimate=estimate_evaluate, output_type="string", pin=_pin_eval)
def evaluate(
    ctx: ToolContext,
    model: str,
    benchmark: str,
    limit: int | None = None,
    baseline: str | None = None,
    backend: str = "local",
    flavor: str | None = None,
    timeout: float | None = None,
    pinned: Any = None,
) -> str:
    """Evaluate a model on a benchmark, as a job; returns the job id. Needs approval. When the job ends,
    eval_results() shows the scores (base model beside the trained ones), and the dashboard's table too.

    Args:
        model: A job id (its output is evaluated), a checkpoint folder in the workspace, or a Hub id.
        benchmark: 'tiny-arith' (bundled, offline, seconds on CPU), or a standard one run through
            inspect-evals: 'gsm8k', 'gpqa_diamond', 'humaneval', 'aime2024', 'aime2025', 'bfcl',
            'mmlu_0_shot', 'arc_challenge', 'ifeval', or any 'inspect_evals/<task>'.
        limit: Score only the first N items (a quick check before a full run).
        baseline: Also score this model (the base you started from) on the same items, marked as base.
        backend: 'local', 'hf' (Hugging Face Jobs; the model must then be on the Hub) or 'slurm' (a
            cluster sharing the workspace).
        flavor: HF only: hardware, e.g. 'a10g-large'.
        timeout: Seconds after which the job is stopped (HF default: 2 hours).
    """
    from ..templates import install
    from .launch_guard import task_base_models

    bench, model, baseline = _validate(ctx, model, benchmark, limit, baseline, backend)
    base_of_task = [b.lower() for b in task_base_models(ctx.settings.get("task", ""), ctx.settings)]
    args: list[str] = ["--model", model, "--benchmark", bench.name, "--label", model_label(model)]
    if model.lower() in base_of_task:
        args.append("--model-is-base")
    if baseline:
        args += ["--baseline", baseline, "--baseline-label", model_label(baseline)]
    if limit:
        args += ["--limit", str(limit)]
    if bench.engine == "inspect" and backend != "hf":  # local and Slurm share the workspace
        args += ["--items-out", f"evals/{bench.name}.items.jsonl"]  # for the contamination guard
    if not (ctx.workspace / EVAL_SCRIPT).is_file():
        install(ctx.workspace / "templates")
    if backend == "hf" and timeout is None:
        timeout = DEFAULT_HOURS * 3600
    job_id = _jobs(ctx).launch(
        EVAL_SCRIPT,
        backend=backend,
        args=args,
        flavor=flavor,
        timeout=timeout,
        name=f"eval {bench.name}",
        pinned=pinned,
    )
    mark_in_use(ctx.workspace, bench.name)
    _record_eval_job(ctx.workspace, job_id)
    return job_id


def _record_eval_job(workspace: Path, job_id: str) -> None:
    path = workspace / "evals" / "jobs.json"
    try:
        jobs = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        jobs = []
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([*jobs, job_id]), encoding="utf-8")


def collect(workspace: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Every result the session's eval jobs printed so far (from their logs), and the jobs with none yet."""
    try:
        jobs = json.loads((workspace / "evals" / "jobs.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return [], []
    results, waiting = [], []
    for job_id in jobs:
        try:
            text = (workspace / "jobs" / job_id / "log.txt").read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
        found = [r for r in (parse_eval_line(line, job_id) for line in text.splitlines()) if r]
        results += found
        if not found:
            waiting.append(job_id)
    return results, waiting


@agent_tool(output_type="object")
def eval_results(ctx: ToolContext, benchmark: str | None = None) -> dict:
    """Scores of this session's evaluations so far: one row per benchmark with the base model's score and
    every evaluated model's score and gain over the base; `pending` lists eval jobs with no result yet.

    Args:
        benchmark: Only this benchmark (default: all).
    """
    results, waiting = collect(ctx.workspace)
    if benchmark:
        name = resolve(benchmark).name
        results = [r for r in results if r["benchmark"] == name]
    pending = []
    for job_id in waiting:
        try:
            status = _jobs(ctx).status(job_id)["status"]
        except ToolError:
            status = "unknown"
        pending.append({"job_id": job_id, "status": status})
    return {"table": results_table(results), "pending": pending}
