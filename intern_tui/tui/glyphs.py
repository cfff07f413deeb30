"""Symbols used by the UI, with an ASCII fallback for terminals without good Unicode
(`--ascii`, `INTERN_TUI_ASCII=1`, or the Linux console, whose font lacks most of these glyphs)."""

from __future__ import annotations

import os

UNICODE = {
    "thought": "◆",
    "code": "▶",
    "ok": "✓",
    "fail": "✗",
    "warn": "⚠",
    "pause": "⏸",
    "run": "●",
    "redirect": "↪",
    "job": "⚙",
    "file": "✎",
    "final": "★",
    "bar_full": "█",
    "bar_empty": "░",
    "spark": "▁▂▃▄▅▆▇█",
    "sep": "│",
    "dot": "·",
    "arrow": "→",
}
ASCII = {
    "thought": "*",
    "code": ">",
    "ok": "+",
    "fail": "x",
    "warn": "!",
    "pause": "||",
    "run": "o",
    "redirect": "->",
    "job": "#",
    "file": "~",
    "final": "=",
    "bar_full": "#",
    "bar_empty": ".",
    "spark": "_.-=^",
    "sep": "|",
    "dot": ".",
    "arrow": "->",
}


def want_ascii(flag: bool = False) -> bool:
    """ASCII only: asked for (--ascii, INTERN_TUI_ASCII=1), or the Linux console, whose font lacks the glyphs."""
    if flag or os.environ.get("INTERN_TUI_ASCII") == "1":
        return True
    return os.environ.get("TERM") == "linux"


class Glyphs:
    def __init__(self, ascii_only: bool = False):
        self.table = ASCII if ascii_only else UNICODE
        self.ascii = ascii_only

    def __getattr__(self, name: str) -> str:
        try:
            return self.table[name]
        except KeyError:
            raise AttributeError(name) from None

    def bar(self, fraction: float | None, width: int) -> str:
        if fraction is None:
            return "N/A".center(width)
        filled = max(0, min(width, round(fraction * width)))
        return self.bar_full * filled + self.bar_empty * (width - filled)
