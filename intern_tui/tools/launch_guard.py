"""Research guards on a training launch, shown in its approval request:

- **contamination**: the share of the session's eval items found in the training data the job reads
  (see `contamination.py`);
- **base model**: the task may name the model to post-train ("…improve Qwen/Qwen3-1.7B-Base…"); a launch
  that trains from another model (often the instruct variant, which PostTrainBench agents drift to) is
  flagged. A checkpoint in the workspace is followed back to the model its job started from.

Flags are listed in the estimate (`flags`); a flagged launch is never approved without a human (the
approval queue refuses to auto-approve it and says why), and when a human approves it anyway the agent
is told through an alert.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .base import ToolContext
from .benchmarks import BENCHMARKS
from .contamination import data_files_in, describe, measure, threshold

DATA_FLAGS = ("--dataset", "--data", "--train-file", "--train_file", "--data-files", "--data_files",
              "--dataset-path", "--dataset_path", "--train-data", "--dataset_name", "--dataset-name")  # fmt: skip
MODEL_FLAGS = ("--model", "--model-name-or-path", "--model_name_or_path", "--model-id", "--model_id",
               "--base-model", "--base_model", "--model-dir", "--model_dir")  # fmt: skip
TEMPLATE_DEFAULT_DATA = {"sft": "sft.jsonl", "dpo": "dpo.jsonl", "grpo": "grpo.jsonl"}

_HUB_ID = re.compile(r"(?<![\w./-])([A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*[A-Za-z0-9])(?![\w/-])")
_BASE_PHRASE = re.compile(r"\bbase model(?: is)?[:\s]+[`'\"]?([\w./-]+[\w])", re.I)
_STRING = re.compile(r"""["']([^"'\n]{3,200})["']""")
_DATASET_IDS = {b.dataset.lower() for b in BENCHMARKS.values() if b.dataset}


def flag_values(argv: list[str], flags: tuple[str, ...]) -> list[str]:
    """Values of `--flag value` and `--flag=value` in a command line."""
    out = []
    for i, arg in enumerate(argv):
        head, eq, tail = arg.partition("=")
        if head in flags:
            if eq:
                out.append(tail)
            elif i + 1 < len(argv):
                out.append(argv[i + 1])
    return out


def _argv(arguments: dict[str, Any]) -> list[str]:
    from ..jobs.manager import normalize_args

    try:
        return normalize_args(arguments.get("args"))
    except Exception:
        return []


def _script_text(ctx: ToolContext, script: str) -> str:
    try:
        path = (ctx.workspace / script).resolve()
        if path.is_relative_to(ctx.workspace.resolve()) and path.is_file():
            return path.read_text(encoding="utf-8", errors="replace")[:200_000]
    except (OSError, ValueError):
        pass
    return ""


def _template_kind(script: str, source: str) -> str | None:
    if "intern-tui template helpers" not in source:
        return None
    name = Path(script).name
    return next((k for k in TEMPLATE_DEFAULT_DATA if k in name), None)


# -- contamination ---------------------------------------------------------------------------------


def training_data(ctx: ToolContext, script: str, argv: list[str]) -> tuple[list[str], list[str]]:
    """Local data files the job reads, and Hub datasets it names (which are not checked)."""
    source = _script_text(ctx, script)
    named = flag_values(argv, DATA_FLAGS)
    files = data_files_in(ctx.workspace, [*named, *argv])
    hub = [v for v in named if _HUB_ID.fullmatch(v) and v not in files]
    kind = _template_kind(script, source)
    if not named and kind:  # a template run with its default dataset (data/<kind>.jsonl beside it)
        default = (Path(script).parent / "data" / TEMPLATE_DEFAULT_DATA[kind]).as_posix()
        files += data_files_in(ctx.workspace, [default])
    if not named and not kind:  # a custom script: the data files its source names
        files += [f for f in data_files_in(ctx.workspace, _STRING.findall(source)) if f not in files]
    return files, hub


def contamination_check(ctx: ToolContext, script: str, argv: list[str]) -> tuple[dict[str, Any], list[str]]:
    files, hub = training_data(ctx, script, argv)
    if not files:
        return {}, []
    max_samples = flag_values(argv, ("--max-samples", "--max_samples"))
    rows = int(max_samples[0]) if max_samples and max_samples[0].isdigit() else None
    found = measure(ctx, files, max_rows=rows)
    limit = threshold(ctx)
    results = [{k: v for k, v in r.items() if not k.startswith("_")} for r in found["results"]]
    notes = found["notes"] + [f"{h}: a Hub dataset, not checked (its rows are not here)" for h in hub]
    info = {"data": files, "threshold": limit, "worst": found["worst"], "results": results, "notes": notes}
    flags = [
        f"contamination: {describe(r)}; drop them (check_contamination(..., write_clean=...)) before training"
        for r in found["results"]
        if r["fraction"] > limit
    ]
    return info, flags


# -- base model ------------------------------------------------------------------------------------


def task_base_models(task: str, settings: dict[str, Any]) -> list[str]:
    """The model(s) the session is meant to post-train: `base_model` in the settings, else named in the
    task ("base model X", or Hub model ids that are not the benchmarks' datasets)."""
    explicit = settings.get("base_model")
    if explicit:
        return [str(explicit)]
    phrased = _BASE_PHRASE.findall(task or "")
    if phrased:
        return phrased
    ids = []
    for found in _HUB_ID.findall(task or ""):
        lowered = found.lower()
        if lowered in _DATASET_IDS or lowered.startswith(("http", "www.")) or found in ids:
            continue
        before = (task or "")[: (task or "").find(found)].lower().split()[-2:]
        if any(word.startswith(("dataset", "data", "benchmark")) for word in before):
            continue
        ids.append(found)
    return ids


def launch_models(ctx: ToolContext, script: str, argv: list[str]) -> list[str]:
    """Models the launch trains from: its --model style arguments, a template's default ('tiny'), or the
    Hub ids a custom script's source names."""
    named = flag_values(argv, MODEL_FLAGS)
    if named:
        return named
    source = _script_text(ctx, script)
    if _template_kind(script, source):
        return ["tiny"]
    return [s for s in _STRING.findall(source) if _HUB_ID.fullmatch(s) and s.lower() not in _DATASET_IDS]


def lineage(ctx: ToolContext, model: str, depth: int = 0) -> str:
    """A workspace checkpoint (jobs/<id>/output/…) followed back to the model its job trained from."""
    match = re.match(r"^(?:\./)?jobs/(job-[0-9a-f]+)/", model.replace(str(ctx.workspace) + "/", ""))
    if not match or depth > 8:
        return model
    try:
        meta = json.loads((ctx.workspace / "jobs" / match.group(1) / "job.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return model
    parents = flag_values([str(a) for a in meta.get("command") or []], MODEL_FLAGS)
    return lineage(ctx, parents[0], depth + 1) if parents else model


def _same(a: str, b: str) -> bool:
    return a.strip().rstrip("/").lower() == b.strip().rstrip("/").lower()


def base_model_check(ctx: ToolContext, script: str, argv: list[str]) -> tuple[dict[str, Any], list[str]]:
    bases = task_base_models(ctx.settings.get("task", ""), ctx.settings)
    if not bases:
        return {}, []
    models = launch_models(ctx, script, argv)
    info: dict[str, Any] = {"task_names": bases, "launch_trains": models}
    flags = []
    for model in models:
        origin = lineage(ctx, model)
        if origin != model:
            info.setdefault("traced", {})[model] = origin
        if any(_same(origin, base) for base in bases):
            continue
        if origin == model and (ctx.workspace / model).exists() and not model.startswith("jobs/"):
            continue  # a model folder the agent prepared in the workspace: we can't tell where it came from
        hint = (
            " (an instruct/chat variant: the task asks for the base model)"
            if re.search(r"instruct|chat|-it\b", origin, re.I)
            or any("base" in b.lower() and "base" not in origin.lower() for b in bases)
            else ""
        )
        flags.append(
            f"base model: the task names {' or '.join(bases)}, this launch trains from {origin}{hint}"
        )
    return info, flags


def launch_checks(ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
    """Extra fields for a launch's estimate: `contamination`, `base_model` and `flags` (only when set)."""
    script = str(arguments.get("script") or "")
    argv = _argv(arguments)
    out: dict[str, Any] = {}
    flags: list[str] = []
    for key, check in (("contamination", contamination_check), ("base_model", base_model_check)):
        try:
            info, found = check(ctx, script, argv)
        except Exception as exc:  # a guard must never block the request itself
            info, found = {"error": f"{type(exc).__name__}: {exc}"}, []
        if info:
            out[key] = info
        flags += found
    if flags:
        out["flags"] = flags
    return out
