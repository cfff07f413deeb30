"""Where intern-tui keeps things, and the user's config file.

Data home (sessions.db + one workspace per session): `--home`, else `$INTERN_TUI_HOME`, else
`$XDG_DATA_HOME/intern-tui` (default `~/.local/share/intern-tui`).
Config: `$INTERN_TUI_CONFIG`, else `$XDG_CONFIG_HOME/intern-tui/config.toml` (default `~/.config/...`).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import BadInput


def default_home() -> Path:
    if env := os.environ.get("INTERN_TUI_HOME"):
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "intern-tui"


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "intern-tui"


def config_path() -> Path:
    if env := os.environ.get("INTERN_TUI_CONFIG"):
        return Path(env).expanduser()
    return config_dir() / "config.toml"


@dataclass
class Config:
    """Settings from config.toml. Unknown keys are kept in `raw` for parts that read their own section."""

    model: str | None = None
    api_base: str | None = None
    theme: str | None = None
    max_steps: int = 300
    keymap: dict[str, str] = field(default_factory=dict)
    budget_gpu_hours: float | None = None
    budget_usd: float | None = None
    pause_on_alert: bool = False
    llm: dict[str, Any] = field(default_factory=dict)  # [llm]: timeouts, retries, window, litellm params
    raw: dict[str, Any] = field(default_factory=dict)

    def section(self, name: str) -> dict[str, Any]:
        value = self.raw.get(name, {})
        return value if isinstance(value, dict) else {}


def load_config(path: Path | None = None) -> Config:
    """Read config.toml; a missing file means defaults, a broken one is a clear error."""
    path = path or config_path()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Config()
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise BadInput(f"cannot read config file {path}: {exc}", hint="fix or remove the file") from exc
    agent = raw.get("agent", {}) if isinstance(raw.get("agent"), dict) else {}
    budget = raw.get("budget", {}) if isinstance(raw.get("budget"), dict) else {}
    try:
        return Config(
            model=raw.get("model") or agent.get("model"),
            api_base=raw.get("api_base") or agent.get("api_base"),
            theme=raw.get("theme"),
            max_steps=int(agent.get("max_steps", raw.get("max_steps", 300))),
            keymap={str(k): str(v) for k, v in (raw.get("keymap") or {}).items()},
            budget_gpu_hours=_opt_float(budget.get("gpu_hours")),
            budget_usd=_opt_float(budget.get("usd")),
            pause_on_alert=bool(agent.get("pause_on_alert", False)),
            llm=_llm_section(raw.get("llm"), path),
            raw=raw,
        )
    except (TypeError, ValueError, AttributeError) as exc:
        raise BadInput(
            f"invalid value in config file {path}: {exc}", hint="see the README's Configuration section"
        ) from exc


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _llm_section(value: Any, path: Path) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadInput(f"[llm] in {path} must be a table", hint="see the README's 'Real models' section")
    from .agent.models import ModelSettings

    try:
        ModelSettings.from_config(value)
    except ValueError as exc:
        raise BadInput(
            f"invalid [llm] setting in {path}: {exc}", hint="see the README's 'Real models' section"
        ) from exc
    return dict(value)
