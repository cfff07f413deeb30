"""Opening the full-screen TUI: a new session (task given or asked for) or a resumed one."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..config import load_config


def add_tui_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "task", metavar="TASK", nargs="?", help="start at once with this task (else you are asked)"
    )


def add_display_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ascii", action="store_true", help="ASCII symbols only (terminals without good Unicode)")


def run_tui(
    args: argparse.Namespace,
    home: Path,
    *,
    task: str | None = None,
    resume_id: str | None = None,
    fork: dict | None = None,
    replay_id: str | None = None,
    options=None,
) -> int:
    """Open the app for a new session (`task` or asked), a resumed one, a fork, or a replay."""
    from ..agent.session import Runtime
    from ..tui.app import InternApp

    config = load_config()
    runtime = Runtime.open(home, mirror=replay_id is None)
    try:
        if options is None and task:
            from .run import session_options

            options = session_options(args, task, headless=False)
        app = InternApp(
            runtime,
            options=options,
            resume_id=resume_id,
            fork=fork,
            replay_id=replay_id,
            theme=args.theme or config.theme,
            keymap=config.keymap,
            ascii_only=getattr(args, "ascii", False),
            gpu=replay_id is None,
            default_model=getattr(args, "model", None),
        )
        app.run()
        if app.exit_message:
            print(app.exit_message, file=sys.stderr)
        return 0
    finally:
        runtime.close()
