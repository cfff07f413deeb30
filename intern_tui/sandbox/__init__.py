"""Agent code runs here: in a separate worker process with no secrets, fenced by bubblewrap when the machine
allows it, behind smolagents' restricted interpreter. See docs/sandbox.md.

    session process (trusted)                               worker process (untrusted)
    CodeAgent ─ WorkerExecutor ──run code──────────────────▶ restricted interpreter (policy.py)
                    ▲  ToolGate, approvals, budget,            │ tool stubs
                    └──────────── tool calls as JSON ◀─────────┘
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import BadInput
from .isolation import MODES, Isolation, Limits, probe


@dataclass(frozen=True)
class SandboxSettings:
    isolation: str = "auto"  # auto | bubblewrap | process
    limits: Limits = field(default_factory=Limits)


def settings_from_config(section: dict[str, Any]) -> SandboxSettings:
    """The `[sandbox]` table of config.toml; bad values are a clear error."""
    mode = str(section.get("isolation", "auto"))
    if mode not in MODES:
        raise BadInput(
            f"[sandbox] isolation must be one of {', '.join(MODES)}, not {mode!r}", hint="fix config.toml"
        )
    defaults = Limits()
    values: dict[str, Any] = {}
    for key, kind in (("memory_mb", int), ("cpu_seconds", float), ("step_timeout", float)):
        if key not in section:
            continue
        raw = section[key]
        if raw in (0, False, "off", "none"):
            values[key] = None
            continue
        try:
            value = kind(raw)
        except (TypeError, ValueError):
            raise BadInput(f"[sandbox] {key} must be a number (or 0 for no limit), not {raw!r}") from None
        if value < 0:
            raise BadInput(f"[sandbox] {key} must not be negative")
        values[key] = value
    limits = Limits(
        **{k: values.get(k, getattr(defaults, k)) for k in ("memory_mb", "cpu_seconds", "step_timeout")}
    )
    return SandboxSettings(mode, limits)


def resolve_isolation(settings: SandboxSettings) -> Isolation:
    """The isolation a session gets; asking for bubblewrap where it can't work is an error, not a downgrade."""
    isolation = probe(settings.isolation)
    if settings.isolation == "bubblewrap" and isolation.level != "bubblewrap":
        raise BadInput(
            f"the sandbox needs bubblewrap, but {isolation.detail}",
            hint="install bubblewrap, or set [sandbox] isolation = 'auto' in config.toml",
        )
    return isolation


__all__ = ["Isolation", "Limits", "SandboxSettings", "probe", "resolve_isolation", "settings_from_config"]
