"""Errors that reach the user as one clear line (plus an optional hint), never a traceback."""

from __future__ import annotations


class InternError(Exception):
    """A runtime failure the user can act on (exit code 1)."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


class BadInput(InternError):
    """Bad input or usage: a wrong id, an unusable --home, a foreign database (exit code 2)."""

    exit_code = 2


class ToolError(Exception):
    """A failure the agent should read and act on (bad argument, missing file, offline service…).

    Defined here, below every part, so the workspace and the job runners raise it without importing the
    tools (`intern_tui.tools` re-exports it)."""
