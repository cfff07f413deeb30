"""Events and ids as one line of text, the same in the TUI and the headless CLI (no Textual, nothing heavy)."""

from __future__ import annotations

from typing import Any


def display_model(model_id: str | None) -> str:
    """How a model is shown: script:/long/path/policy.jsonl → script:policy.jsonl; litellm ids unchanged."""
    if model_id and model_id.startswith("script:"):
        return "script:" + model_id.rsplit("/", 1)[-1]
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
