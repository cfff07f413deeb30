"""Sessions in their own process: `run/resume/fork --detach`, `attach`, `stop`.

`--detach` starts the session process (host/) and returns at once with the session id; the session goes
on after the terminal closes. `attach ID` follows it (the TUI, or `--headless` to print its events); `stop
ID` interrupts it (the session stays resumable).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..errors import BadInput, InternError


def start(
    args: argparse.Namespace, home: Path, *, resume_id: str | None = None, fork: dict | None = None
) -> str:
    """Start the session process for a new, resumed or forked session; returns its id."""
    from ..host import spawn_session

    overrides = {k: v for k, v in (("model", args.model), ("api_base", args.api_base)) if v}
    overrides["approve"] = args.approve or "ask"  # detached: requests wait for someone who attaches
    if getattr(args, "ask_again", False):
        overrides["ask_again"] = True
    if fork is not None or resume_id is not None:
        return spawn_session(home, resume_id=resume_id, fork=fork, overrides=overrides)
    from .run import session_options

    task = (getattr(args, "task", None) or "").strip()
    if not task:
        raise BadInput("a TASK is required", hint='intern-tui run --detach "SFT Qwen on …"')
    options = session_options(args, task, headless=False)
    options.approve = overrides["approve"]
    from ..agent.models import check_model

    check_model(options.model, options.api_base)  # fail here, in the terminal, not in the background
    return spawn_session(home, options=options)


def run_detached(args: argparse.Namespace, home: Path, **kw) -> int:
    session_id = start(args, home, **kw)
    print(f"session {session_id} is running in the background")
    print(f"  follow it:  intern-tui attach {session_id}")
    print(f"  stop it:    intern-tui stop {session_id}")
    return 0


def newest_live(home: Path) -> str:
    from ..host import live_sessions
    from ..store import open_store

    conn = open_store(home).connect()
    try:
        live = live_sessions(home, conn)
    finally:
        conn.close()
    if live:
        return live[0]
    raise BadInput(
        "no session is running in the background",
        hint='start one with intern-tui run --detach "…", or see intern-tui sessions list',
    )


def attach_headless(args: argparse.Namespace, home: Path, session_id: str) -> int:
    """Print the session's events (history, then live) until it ends; Ctrl+C detaches, the session goes on."""
    from ..host.client import SessionClient
    from .run import Printer

    client = SessionClient(home, session_id)
    printer = Printer(sys.stdout, as_json=args.json)
    printer.session_id = session_id
    sub = client.bus.subscribe("attach")
    client.stream(0)
    try:
        while not client.wait(0.1):
            printer.print_events(sub.drain())
        printer.print_events(sub.drain())
    except KeyboardInterrupt:
        print(f"\ndetached; session {session_id} goes on (intern-tui attach {session_id})", file=sys.stderr)
        return 0
    finally:
        client.close()
    print(f"\nsession {session_id} {client.status}", file=sys.stderr)
    return 0


def stop(home: Path, session_id: str, timeout: float = 30.0) -> int:
    from ..host.client import SessionClient

    client = SessionClient(home, session_id)
    try:
        client.stop("stopped from the command line")
        if not client.wait(timeout):
            raise InternError(
                f"session {session_id} was asked to stop but is still finishing its step",
                hint="it stops at the end of the current step; run intern-tui stop again to check",
            )
    finally:
        client.close()
    deadline = time.monotonic() + 5
    from ..host import live_host

    while live_host(home, session_id) and time.monotonic() < deadline:
        time.sleep(0.05)
    from ..store import open_store
    from ..store.queries import get_session

    conn = open_store(home).connect()
    try:
        status = get_session(conn, session_id)["status"]
    finally:
        conn.close()
    print(f"session {session_id} stopped ({status}); continue it with: intern-tui resume {session_id}")
    return 0
