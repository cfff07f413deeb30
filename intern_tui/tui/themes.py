"""Themes: the bundled ones (package data, `intern_tui/themes/`) plus the user's own TOML files in
`~/.config/intern-tui/themes/`. Each file holds the fields of a Textual `Theme`."""

from __future__ import annotations

import logging
import tomllib
from importlib import resources
from importlib.resources.abc import Traversable

from textual.theme import Theme

from ..config import config_dir

log = logging.getLogger(__name__)

# Package data, read through importlib.resources so an installed wheel finds it wherever it lives.
BUNDLED: Traversable = resources.files("intern_tui") / "themes"
DEFAULT_THEME = "intern-dark"
_FIELDS = (
    "primary",
    "secondary",
    "warning",
    "error",
    "success",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
    "dark",
    "luminosity_spread",
    "text_alpha",
    "variables",
)


def theme_dirs() -> list[Traversable]:
    """The bundled themes first; a user theme of the same name wins."""
    return [BUNDLED, config_dir() / "themes"]


def load_themes(dirs: list[Traversable] | None = None) -> list[Theme]:
    """Every valid theme file found; a broken user file is skipped with a log line, never fatal."""
    themes: dict[str, Theme] = {}
    for folder in dirs if dirs is not None else theme_dirs():
        if not folder.is_dir():
            continue
        for path in sorted((p for p in folder.iterdir() if p.name.endswith(".toml")), key=lambda p: p.name):
            try:
                data = tomllib.loads(path.read_text(encoding="utf-8"))
                name = data.get("name") or path.name.removesuffix(".toml")
                themes[name] = Theme(name=name, **{k: v for k, v in data.items() if k in _FIELDS})
            except (OSError, tomllib.TOMLDecodeError, TypeError, ValueError) as exc:
                log.warning("skipping theme %s: %s", path, exc)
    return list(themes.values())
