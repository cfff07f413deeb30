"""Where a session's model lives and how it is called, from the first start to every resume and fork.

A session stores its model id, `api_base` and `ModelSettings` in each `session_started` event (with the
context window it learned and where from). Resume and fork read them back, so a session keeps talking to
the same endpoint with the same settings; a transcript is never sent to another host unless the user
says so with `--api-base`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..errors import BadInput
from ..events import Kind
from .models import DEFAULT_BASE, DEFAULT_CONTEXT_WINDOW, ModelSettings, effective_api_base, provider_of

_SECRET_PARAM = re.compile(r"(^|_)(api_?key|key|token|secret|password|credentials?)$", re.I)


def context_window(model: str, api_base: str | None, settings: ModelSettings) -> tuple[int, str]:
    """The window to compact for, and where it came from: an explicit setting, else what the serving
    side says (the server for a custom endpoint, litellm's model info), else a conservative default."""
    if settings.context_window:
        return int(settings.context_window), "setting"
    if settings.params.get("num_ctx"):  # ollama runs with num_ctx, whatever the model could do
        return int(settings.params["num_ctx"]), "setting"
    if model.startswith("script:"):
        return 128_000, "script"
    from .llm import learn_context_window

    learned = learn_context_window(model, effective_api_base(model, api_base))
    return learned if learned else (DEFAULT_CONTEXT_WINDOW, "default")


def storable(settings: ModelSettings) -> dict[str, Any]:
    """Settings as they are written to the event log: JSON-safe, and no credentials even if someone put
    an api_key in the litellm params."""
    data = json.loads(json.dumps(settings.to_json(), default=str))
    data["params"] = {k: v for k, v in data.get("params", {}).items() if not _SECRET_PARAM.search(k)}
    return data


def continued_endpoint(
    session_id: str,
    stored_model: str,
    events: list,
    model: str | None,
    api_base: str | None,
    settings_overrides: dict[str, Any] | None,
) -> dict[str, Any]:
    """Model, api_base and settings for continuing a session (resume, fork): the stored ones unless the
    user overrides them. A transcript never goes to another host implicitly: a model from another
    provider, on a session that used its own endpoint, needs an explicit --api-base."""
    started = next((e.payload for e in reversed(events) if e.kind == Kind.SESSION_STARTED), {})
    stored_base = started.get("api_base")
    chosen = model or stored_model
    if api_base is not None:
        base = None if api_base == DEFAULT_BASE else api_base
    elif stored_base and model and provider_of(model) != provider_of(stored_model):
        raise BadInput(
            f"session {session_id} used the endpoint {stored_base}; --model {model} would send its transcript "
            "to another host",
            hint=f"say where explicitly: --api-base URL, or --api-base {DEFAULT_BASE} for the provider's own",
        )
    else:
        base = stored_base
    settings = ModelSettings.from_json(started.get("model_settings"))
    for name, value in (settings_overrides or {}).items():
        if value is not None:
            setattr(settings, name, value)
    return {"model": chosen, "api_base": base, "settings": settings}


def resumed_cap(session_id: str, row, last_step: int, max_steps: int | None) -> int:
    """The step cap of a resumed run: --max-steps if given, else the session's own."""
    if max_steps is not None:
        if max_steps <= last_step:
            raise BadInput(
                f"--max-steps {max_steps} is not more than the {last_step} steps session {session_id} already did",
                hint=f"pass a larger cap, e.g. --max-steps {last_step + 100}",
            )
        return max_steps
    cap = int(row["max_steps"] or 300)
    if row["status"] == "max_steps":
        raise BadInput(
            f"session {session_id} stopped at its step cap ({cap})",
            hint=f"resume it with a higher cap: intern-tui resume {session_id} --max-steps {cap + 100}",
        )
    return max(cap, last_step + 1)
