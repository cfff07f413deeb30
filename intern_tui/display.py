"""Events and ids as one line of text, the same in the TUI and the headless CLI (no Textual, nothing heavy)."""

from __future__ import annotations

from typing import Any


def display_model(model_id: str | None) -> str:
    """How a model is shown: script:/long/path/policy.jsonl → script:policy.jsonl; litellm ids unchanged."""
    if model_id and model_id.startswith("script:"):
        return "script:" + model_id[len("script:") :].rsplit("/", 1)[-1]
    return model_id or ""


def describe_retry(p: dict[str, Any], wait_left: float | None = None) -> str:
    """A `model_retry` event as one line: 'model busy, retrying in 40 s (3/8): rate limited (429)…'
    (`wait_left`: a live countdown instead of the whole wait)."""
    if p.get("kind") == "empty":
        return f"empty reply, asking the model again ({p.get('attempt')}/{p.get('max_attempts')})"
    wait = float(p.get("wait_s") or 0) if wait_left is None else wait_left
    shown = f"{wait:.0f} s" if wait >= 1 else f"{wait:.1f} s"
    busy = "model busy" if p.get("kind") in ("rate_limit", "server") else "model call failed"
    return f"{busy}, retrying in {shown} ({p.get('attempt')}/{p.get('max_attempts')}): {p.get('reason')}"


# -- approval requests ----------------------------------------------------------------------------------

_FIRST = ("script", "backend", "flavor", "nodes", "gpus", "namespace", "partition", "secrets", "env", "repo_id",
          "path", "private", "model")  # fmt: skip


def cost_facts(arguments: dict[str, Any], estimate: dict[str, Any]) -> list[str]:
    """What a request spends, as short facts: backend, flavor, GPUs, hours, GPU-hours, dollars ("$?" when
    the price is unknown). Empty for a request that spends nothing measurable."""
    facts = []
    backend = estimate.get("backend") or arguments.get("backend")
    if backend:
        facts.append(f"backend {backend}")
    if estimate.get("flavor"):
        facts.append(str(estimate["flavor"]))
    if (estimate.get("nodes") or 1) > 1:
        facts.append(f"{estimate['nodes']} nodes")
    gpus = estimate.get("gpus", arguments.get("gpus"))
    if gpus is not None:
        facts.append(f"{gpus} GPU" + ("" if gpus == 1 else "s"))
    if estimate.get("hours") is not None:
        facts.append(f"≤{float(estimate['hours']):.3g} h")
    if "gpu_hours" in estimate:
        gh = estimate["gpu_hours"]
        facts.append("GPU-h ?" if gh is None else f"{float(gh):.3g} GPU-h")
    if "usd" in estimate:
        usd = estimate["usd"]
        facts.append("$?" if usd is None else f"${float(usd):.2f}")
    return facts


def ordered_arguments(arguments: dict[str, Any]) -> list[str]:
    """Argument names, the ones that change what runs, where and with which credentials first."""
    return [k for k in _FIRST if k in arguments] + sorted(k for k in arguments if k not in _FIRST)


def describe(view: dict[str, Any], width: int = 100) -> list[str]:
    """An approval request as lines for a terminal, from its recorded payload: every argument in full (no
    cut, however long; the fields that matter most first), the estimate, the guard flags, and what the
    approval pins to run (digest and diff)."""
    import json
    import textwrap

    lines = [f"{view.get('tool')}  (request {view.get('id')})"]
    estimate = view.get("estimate") or {}
    facts = cost_facts(view.get("arguments") or {}, estimate)
    if facts:
        lines.append("  " + " · ".join(facts))
    if estimate.get("summary"):
        lines.append(f"  cost: {estimate['summary']}")
    for flag in estimate.get("flags") or []:
        lines.append(f"  ⚠ {flag}")
    arguments = view.get("arguments") or {}
    for key in ordered_arguments(arguments):
        value = arguments[key]
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
        wrapped = textwrap.wrap(text, width - 6, break_long_words=True, replace_whitespace=False) or [""]
        lines.append(f"  {key} = {wrapped[0]}")
        lines.extend(f"      {part}" for part in wrapped[1:])
    pinned = view.get("pinned")
    if pinned and pinned.get("kind") == "upload":
        files = pinned.get("files") or []
        lines.append(f"  uploads exactly {len(files)} files, sha256:{pinned.get('sha256')}:")
        lines.extend(f"    {name}" for name in files)
    elif pinned:
        lines.append(
            f"  runs snapshot sha256:{pinned.get('sha256')} ({len(pinned.get('files') or [])} .py files)"
        )
        if pinned.get("previous_sha256"):
            lines.append(f"  against the last approved sha256:{pinned['previous_sha256']}:")
        lines.extend("    " + line for line in (pinned.get("diff") or pinned.get("note") or "").splitlines())
    return lines
