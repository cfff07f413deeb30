"""`intern-tui mirror status` and `intern-tui mirror push [ID]`."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any

from ..errors import InternError
from ..store import Store
from ..store.queries import resolve_session_id

HINTS = {
    "auth": "run `hf auth login` (or export HF_TOKEN) and try again",
    "permission": "check the token's write access, or set [mirror] repo in config.toml",
    "wrong_type": "set [mirror] repo in config.toml to a dataset name of yours",
    "refused": "make the dataset private on the Hub, or pass --allow-public if it is meant to be public",
    "offline": "nothing is lost: the upload stays queued and is retried automatically",
    "server": "nothing is lost: the upload stays queued and is retried automatically",
    "busy": "wait for the other upload to finish",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Fill the `mirror` subcommand's parser."""
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    status = sub.add_parser("status", help="what is queued or failed per session, and the target repo")
    push = sub.add_parser("push", help="push queued sessions to the Hub now")
    push.add_argument("id", metavar="ID", nargs="?", help="only this session (id, unique prefix or 'last')")
    for p in (status, push):
        p.add_argument(
            "--repo",
            metavar="REPO",
            help="target dataset (default: [mirror] repo, else <user>/intern-tui-sessions)",
        )
        p.add_argument("--allow-public", action="store_true", help="allow uploading to a public dataset")


def run(args: argparse.Namespace, store: Store, *, api: Any = None) -> int:
    """Run `mirror status|push`. `api` stands in for huggingface_hub.HfApi (tests)."""
    from ..mirror import Mirror, MirrorSettings
    from ..mirror.settings import normalize_repo_id

    settings = MirrorSettings.load()
    overrides: dict[str, Any] = {}
    if getattr(args, "repo", None):
        overrides["repo"] = normalize_repo_id(args.repo)
    if getattr(args, "allow_public", False):
        overrides["allow_public"] = True
    settings = dataclasses.replace(settings, **overrides)
    mirror = Mirror(store, settings, api=api)
    if args.action == "status":
        return _status(mirror, store)
    if not settings.enabled:
        raise InternError(
            "the mirror is disabled ([mirror] enabled = false in config.toml)",
            hint="set enabled = true in the [mirror] section to push sessions",
        )
    session_id = None
    if args.id:
        conn = store.connect()
        try:
            session_id = resolve_session_id(conn, args.id)
        finally:
            conn.close()
    return _push(mirror, session_id)


def _push(mirror, session_id: str | None) -> int:
    out = sys.stdout
    out.write(f"pushing {'session ' + session_id if session_id else 'all sessions'} …\n")
    out.flush()

    def progress(line: str) -> None:
        out.write(line + "\n")
        out.flush()

    report = mirror.push(session_id, progress=progress)
    if report.error is not None:
        raise InternError(f"mirror push failed: {report.error.message}", hint=HINTS.get(report.error.kind))
    target = mirror.target.repo
    if not report.sessions:
        out.write(f"nothing to push: everything is on datasets/{target}\n")
    else:
        n = len(report.sessions)
        out.write(f"pushed {n} session{'s' if n != 1 else ''} ({report.files} files) to datasets/{target}\n")
    return 0


def _status(mirror, store: Store) -> int:
    from ..mirror import queue
    from ..mirror.hub import HubError

    out = sys.stdout
    settings = mirror.settings
    try:
        repo = mirror.target.resolve()
        visibility = mirror.target.visibility(repo)
    except HubError as err:
        conn = store.connect()
        try:
            repo = settings.repo if settings.repo and "/" in settings.repo else queue.last_known_repo(conn)
        finally:
            conn.close()
        visibility = f"unknown ({err.message})"
    if visibility == "PUBLIC" and not settings.allow_public:
        visibility = "PUBLIC — uploads are refused (make it private, or pass --allow-public)"
    out.write(f"target    datasets/{repo or '<your HF user>/intern-tui-sessions'}   {visibility}\n")
    flags = [
        "enabled" if settings.enabled else "disabled ([mirror] enabled = false)",
        f"heartbeat {settings.heartbeat_seconds:g} s",
        "workspace files uploaded" if settings.upload_workspace else "workspace files not uploaded",
    ]
    out.write(f"mirror    {' · '.join(flags)}\n")
    conn = store.connect()
    try:
        states = queue.session_states(conn, repo)
    finally:
        conn.close()
    if not states:
        out.write("no sessions yet\n")
        return 0
    out.write(f"\n{'SESSION':<20} {'ON HUB':>13} {'PENDING':>8} {'FAILED':>7}  LAST ERROR\n")
    behind = 0
    for s in states:
        behind += s.last_seq > s.pushed_seq or bool(s.pending or s.failed)
        pushed = f"{s.pushed_seq}/{s.last_seq}"
        error = _one_line(s.last_error or "", 70)
        out.write(f"{s.session_id:<20} {pushed:>13} {s.pending:>8} {s.failed:>7}  {error}".rstrip() + "\n")
    out.write(
        f"\n{behind} of {len(states)} sessions not fully on the Hub\n"
        if behind
        else "\nall sessions synced\n"
    )
    return 0


def _one_line(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
