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


def run_tui(
    args: argparse.Namespace,
    home: Path,
    *,
    task: str | None = None,
    resume_id: str | None = None,
    fork: dict | None = None,
    replay_id: str | None = None,
    attach_id: str | None = None,
    options=None,
    overview: bool = False,
) -> int:
    """Open the app for a new session (`task` or asked), a resumed one, a fork, a replay, or attached to a
    session running in its own process. New, resumed and forked sessions run in their own process (the
    window attaches to it) unless --in-process."""
    from ..agent.session import Runtime
    from ..tui.app import InternApp
    from ..tui.glyphs import want_ascii
    from .run import session_options

    config = load_config()
    # the session process mirrors its own session; an in-process one is mirrored from here
    runtime = Runtime.open(
        home, mirror=replay_id is None and attach_id is None and getattr(args, "in_process", False)
    )
    try:
        if options is None and task:
            options = session_options(args, task, headless=False)
        make_options, continue_overrides = app_model_options(args)
        app = InternApp(
            runtime,
            options=options,
            resume_id=resume_id,
            fork=fork,
            replay_id=replay_id,
            theme=args.theme or config.theme,
            keymap=config.keymap,
            ascii_only=want_ascii(getattr(args, "ascii", False)),
            gpu=replay_id is None,
            default_model=getattr(args, "model", None),
            make_options=make_options if replay_id is None else None,
            continue_overrides=continue_overrides,
            attach_id=attach_id,
            own_process=not getattr(args, "in_process", False),
            overview=overview,
        )
        app.run()
        if app.exit_message:
            print(app.exit_message, file=sys.stderr)
        return 0
    finally:
        runtime.close()


def app_model_options(args: argparse.Namespace):
    """What the app needs from the command line about models: a builder of options for the new-session
    form (config and flags still apply to what is typed there), and the overrides for resume and fork."""
    from .run import session_options, settings_overrides

    def make_options(task: str, model: str):
        args.model = model
        return session_options(args, task, headless=False)

    continue_overrides = {
        "api_base": getattr(args, "api_base", None),
        "settings": settings_overrides(args),
        "max_steps": getattr(args, "max_steps", None),
        "ask_again": bool(getattr(args, "ask_again", False)),
    }
    return (make_options if hasattr(args, "approve") else None), continue_overrides
