"""The `intern-tui` command line.

Only argparse and small modules are imported here: every command imports what it needs when it runs,
so `--help` and the TUI's first frame never wait for litellm, torch or transformers.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from . import __version__
from .errors import BadInput, InternError

COMMANDS = (
    "tui", "demo", "run", "resume", "fork", "attach", "stop", "replay", "sessions", "mirror", "gpu", "doctor",
)  # fmt: skip
_VALUE_OPTIONS = {
    "--home",
    "--theme",
    "--model",
    "--api-base",
    "--context-window",
    "--request-timeout",
    "--max-steps",
    "--approve",
}

DESCRIPTION = """\
An autonomous ML-engineering agent for LLM post-training, supervised from a full-screen terminal UI.

  intern-tui [--model M] [TASK]                   open the TUI; start a session (asks for the task)
  intern-tui demo [--yes] [--headless]            offline demo: scripted policy + tiny model trained on CPU
  intern-tui run --headless [--json] [--model M] [--api-base URL] [--approve ask|none|all] [--max-steps N] TASK
  intern-tui resume ID [--max-steps N] [--headless]   continue a stopped session (same model and endpoint)
  intern-tui fork ID --step K [--instruction T]   a new session from the first K steps of another
  intern-tui run|resume|fork … --detach           the session runs in the background; the command returns
  intern-tui attach [ID] [--headless]             follow a running session (the newest when no ID)
  intern-tui attach --all                         the overview of every live session
  intern-tui stop ID                              stop a running session (it stays resumable)
  intern-tui replay ID                            open a past session read-only with a timeline
  intern-tui sessions list|show|export|import|delete
  intern-tui mirror status|push [ID]              the private Hub dataset that mirrors your sessions
  intern-tui gpu [--json]                         one snapshot of the GPU table
  intern-tui doctor [--json]                      what this machine gives intern-tui: sandbox, GPU, packages

IDs may be abbreviated to any unique prefix, or 'last'."""

EPILOG = """\
global options (before or after the command): --home DIR, --theme NAME, --ascii
data: --home DIR, else $INTERN_TUI_HOME, else ~/.local/share/intern-tui (sessions.db + workspaces/)
config: ~/.config/intern-tui/config.toml (model, keymap, theme, budget, [mirror]) — see the README
exit codes: 0 success, 1 runtime failure, 2 usage error or bad input"""


def _global_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """Options accepted before the command and after it (and after a subcommand's action).

    The top-level parser sets the defaults; on the commands' parsers an option that is not given leaves
    no trace (SUPPRESS), so `intern-tui --home X sessions list` keeps the X given before the command."""
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "--home", metavar="DIR", default=default, help="data directory (sessions.db, workspaces)"
    )
    parser.add_argument("--theme", metavar="NAME", default=default, help="colour theme for the TUI")
    parser.add_argument(
        "--ascii",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="ASCII symbols only (terminals without good Unicode)",
    )


def build_parser() -> argparse.ArgumentParser:
    from .commands import gpu as gpu_cmd
    from .commands import mirror as mirror_cmd
    from .commands.run import add_agent_options, add_run_arguments
    from .commands.tui import add_tui_arguments

    parser = argparse.ArgumentParser(
        prog="intern-tui",
        usage="intern-tui [GLOBAL OPTIONS] [--model M] [TASK] | intern-tui [GLOBAL OPTIONS] COMMAND ...",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _global_options(parser, suppress=False)
    parser.add_argument("--version", action="version", version=f"intern-tui {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(parent, name: str, help: str) -> argparse.ArgumentParser:
        # explicit prog: argparse would otherwise prefix errors with the whole custom usage line
        prefix = getattr(parent, "_intern_prog", "intern-tui")
        p = parent.add_parser(name, help=help, description=help, prog=f"{prefix} {name}")
        _global_options(p, suppress=True)  # --home works after the command and its action too
        return p

    p = command(sub, "tui", "open the TUI (the default command)")
    add_tui_arguments(p)
    _in_process_option(p)
    add_agent_options(p)
    sub._choices_actions = [a for a in sub._choices_actions if a.dest != "tui"]  # the default: not listed

    p = command(sub, "demo", "offline demo: a scripted policy trains a tiny model on CPU, end to end")
    p.add_argument("--yes", action="store_true", help="approve the training jobs without asking")
    p.add_argument("--headless", action="store_true", help="no TUI: print events to stdout")
    p.add_argument("--json", action="store_true", help="headless: one JSON event per line")

    p = command(sub, "run", "run the agent on a task (TUI, or --headless)")
    add_run_arguments(p)
    _detach_option(p)

    p = command(sub, "resume", "continue a stopped session (memory rebuilt from its events)")
    p.add_argument("id", metavar="ID")
    p.add_argument("--headless", action="store_true", help="no TUI: print events to stdout")
    _detach_option(p)
    add_agent_options(p)

    p = command(sub, "fork", "start a new session from the first K steps of a past one")
    p.add_argument("id", metavar="ID")
    p.add_argument("--step", type=int, required=True, metavar="K", help="keep the parent's steps 1..K")
    p.add_argument("--instruction", metavar="TEXT", help="what the fork should do differently")
    p.add_argument("--headless", action="store_true", help="no TUI: print events to stdout")
    _detach_option(p)
    add_agent_options(p)

    p = command(sub, "attach", "follow a session running in the background (the newest if no ID)")
    p.add_argument("id", metavar="ID", nargs="?")
    p.add_argument("--headless", action="store_true", help="no TUI: print its events until it ends")
    p.add_argument("--json", action="store_true", help="headless: one JSON event per line")
    p.add_argument(
        "--all", action="store_true", help="open the overview of every live session (approve from there)"
    )

    p = command(sub, "stop", "stop a session running in the background (it stays resumable)")
    p.add_argument("id", metavar="ID")

    p = command(sub, "replay", "open a past session read-only, with a timeline")
    p.add_argument("id", metavar="ID")

    sessions = command(sub, "sessions", "list, show, export, import and delete sessions")
    ssub = sessions.add_subparsers(dest="action", metavar="ACTION", required=True)
    ssub._intern_prog = "intern-tui sessions"
    p = command(ssub, "list", "sessions, newest first")
    p.add_argument("--json", action="store_true", help="print a JSON array")
    p.add_argument("--limit", type=int, default=None, help="show at most N sessions")
    p = command(ssub, "show", "one session in detail")
    p.add_argument("id", metavar="ID")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p = command(ssub, "export", "write a session's event log, its trace, or its model turns")
    p.add_argument("id", metavar="ID")
    p.add_argument(
        "--format",
        choices=["events", "trace", "script"],
        default="events",
        help="events: JSON Lines; trace: Claude-Code-style JSONL (Hub trace viewer); "
        "script: the model turns as a script: policy that re-executes the session",
    )
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    p = command(ssub, "import", "load a session exported with --format events")
    p.add_argument("file", metavar="FILE", help="an events JSONL file, or - for stdin")
    p.add_argument(
        "--max-size",
        metavar="SIZE",
        default="1G",
        help="refuse input larger than this (default 1G; e.g. 500M, 4G): it is checked before anything is kept",
    )
    p = command(ssub, "rename", "give a session a title (shown in lists, the browser and the header)")
    p.add_argument("id", metavar="ID")
    p.add_argument("title", metavar="TITLE")
    p = command(ssub, "delete", "delete a session (events, rows and workspace)")
    p.add_argument("id", metavar="ID")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--keep-workspace", action="store_true", help="keep the session's workspace folder")

    p = command(sub, "mirror", "the private Hugging Face dataset that mirrors your sessions")
    mirror_cmd.add_arguments(p)
    for name, nested in p._subparsers._group_actions[0].choices.items():
        nested.prog = f"intern-tui mirror {name}"
        _global_options(nested, suppress=True)

    p = command(sub, "gpu", "print one snapshot of the GPU table (says so when there is none)")
    gpu_cmd.add_arguments(p)

    p = command(sub, "doctor", "check the sandbox (isolation level), GPU, packages and model setup")
    p.add_argument("--json", action="store_true", help="print the checks as one JSON object")
    return parser


def _detach_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--detach",
        action="store_true",
        help="run the session in its own background process and return; follow it with intern-tui attach",
    )
    _in_process_option(p)


def _in_process_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--in-process",
        action="store_true",
        help="run the agent inside this window's process (it stops when the window closes; by default the "
        "TUI starts the session in its own process and attaches to it)",
    )


def _first_positional(argv: list[str]) -> str | None:
    skip = False
    for token in argv:
        if skip:
            skip = False
        elif token == "--":
            return None
        elif token.startswith("-"):
            skip = token in _VALUE_OPTIONS
        else:
            return token
    return None


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line as a Namespace; `intern-tui [--model M] [TASK]` is the `tui` command. A usage error
    exits 2 (argparse's own message, or an unknown command's)."""
    first = _first_positional(argv)
    if first not in COMMANDS and not {"-h", "--help", "--version"} & set(argv):
        typo = _looks_like_a_command(first)
        if typo:
            print(f"intern-tui: error: unknown command {first!r}; did you mean {typo!r}?", file=sys.stderr)
            print(
                "hint: to start a session with that one-word task, quote it with a second word, or use "
                f"`intern-tui run {first}`",
                file=sys.stderr,
            )
            raise SystemExit(2)
        argv = ["tui", *argv]  # `intern-tui [--model M] [TASK]` opens the TUI
    return build_parser().parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parse_args(argv)
    except SystemExit as exc:  # argparse's way of ending on --help, --version or a usage error
        return int(exc.code or 0)
    try:
        return _dispatch(args)
    except InternError as exc:
        print(f"intern-tui: error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("intern-tui: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # the one place a surprise becomes a line instead of a traceback
        logging.getLogger("intern_tui").exception("unexpected error")
        print(f"intern-tui: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        print(f"hint: the traceback is in {_log_path(args)}; please report it", file=sys.stderr)
        return 1


def _looks_like_a_command(word: str | None) -> str | None:
    """A single word close to a command name is a typo, not a task ("sesions" → "sessions")."""
    if not word or " " in word:
        return None
    import difflib

    match = difflib.get_close_matches(word.lower(), [c for c in COMMANDS if c != "tui"], n=1, cutoff=0.75)
    return match[0] if match else None


def _require_terminal() -> None:
    import os

    if os.environ.get(
        "TEXTUAL_DRIVER"
    ):  # `textual serve` runs us with its web driver: a browser is the terminal
        return
    if not sys.stdout.isatty() and not sys.stdin.isatty():
        raise BadInput("the TUI needs a terminal", hint="use --headless for scripts and pipes")


def home_from(args: argparse.Namespace) -> Path:
    from .config import default_home

    return Path(args.home).expanduser() if getattr(args, "home", None) else default_home()


def open_store_from(args: argparse.Namespace):
    from .store import open_store

    store = open_store(home_from(args))
    _setup_logging(store.home)
    store.recover_dead_sessions()
    return store


def _log_path(args: argparse.Namespace) -> Path:
    return home_from(args) / "intern-tui.log"


def _setup_logging(home: Path) -> None:
    root = logging.getLogger("intern_tui")
    if root.handlers:
        return
    try:
        handler = logging.FileHandler(home / "intern-tui.log", encoding="utf-8")
    except OSError:
        return
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def _resolve(store, ref: str) -> str:
    from .store.queries import resolve_session_id

    conn = store.connect()
    try:
        return resolve_session_id(conn, ref)
    finally:
        conn.close()


def _dispatch(args: argparse.Namespace) -> int:
    command = args.command
    if command == "gpu":
        from .commands import gpu

        return gpu.run(args)
    if command == "doctor":
        from .commands import doctor

        return doctor.run(args, home_from(args))
    if command == "demo":
        from .commands import demo

        return demo.run(args, open_store_from(args).home)
    if command in ("tui", "run", "resume", "fork"):
        from .commands import run, tui

        store = open_store_from(args)
        resume_id = _resolve(store, args.id) if command == "resume" else None
        fork = None
        if command == "fork":
            fork = {
                "parent_id": _resolve(store, args.id),
                "step": args.step,
                "instruction": args.instruction,
                "model": args.model,
            }
        if getattr(args, "detach", False):
            from .commands import detached

            return detached.run_detached(args, store.home, resume_id=resume_id, fork=fork)
        if getattr(args, "headless", False):
            return run.run_headless(args, store.home, resume_id=resume_id, fork=fork)
        _require_terminal()
        return tui.run_tui(args, store.home, task=getattr(args, "task", None), resume_id=resume_id, fork=fork)
    if command in ("attach", "stop"):
        from .commands import detached

        store = open_store_from(args)
        if command == "stop":
            return detached.stop(store.home, _resolve(store, args.id))
        if args.all and not args.headless:
            _require_terminal()
            from .commands import tui

            return tui.run_tui(args, store.home, overview=True)
        session_id = _resolve(store, args.id) if args.id else detached.newest_live(store.home)
        if args.headless:
            return detached.attach_headless(args, store.home, session_id)
        _require_terminal()
        from .commands import tui

        return tui.run_tui(args, store.home, attach_id=session_id)
    if command == "replay":
        from .commands import tui

        store = open_store_from(args)
        session_id = _resolve(store, args.id)
        _require_terminal()
        return tui.run_tui(args, store.home, replay_id=session_id)
    if command == "mirror":
        from .commands import mirror as mirror_cmd

        return mirror_cmd.run(args, open_store_from(args))
    if command == "sessions":
        from .commands import sessions

        return sessions.run(args, open_store_from(args))
    raise BadInput(f"unknown command {command!r}", hint="see intern-tui --help")
