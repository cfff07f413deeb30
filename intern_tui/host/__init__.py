"""Sessions that outlive the terminal: each runs in its own background process, and clients attach to it.

    intern-tui (TUI) ──┐                        ┌── session process (host/server.py, `python -m intern_tui.host`)
    intern-tui attach ─┼── Unix socket (0600) ──┤     agent + sandboxed worker, jobs, GPU sampler,
    sessions list ─────┘   wire.py JSON         │     store writer, Hub mirror
                                                └── SQLite (sessions.db): history for replay and attach

`start_host` spawns the process for a new, resumed or forked session and returns once it listens (or
raises the one-line reason it could not start). `SessionClient` (client.py) attaches: it streams the
session's events into a local EventBus and sends controls. A client dying loses nothing and stops nothing;
the session process dying behaves as a crash always did (marked interrupted at the next start, resumable).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ..errors import BadInput, InternError

STARTUP_TIMEOUT = 60.0


def socket_dir() -> Path:
    """A short, private directory for sockets (a Unix socket path must stay under ~100 bytes, so it can't
    live under an arbitrary --home): $XDG_RUNTIME_DIR/intern-tui, else /tmp/intern-tui-<uid>, 0700 and
    ours, or refused."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    path = (
        Path(base) / "intern-tui"
        if base and Path(base).is_dir()
        else Path(tempfile.gettempdir()) / f"intern-tui-{os.getuid()}"
    )
    path.mkdir(mode=0o700, exist_ok=True)
    info = path.lstat()
    if info.st_uid != os.getuid() or info.st_mode & 0o077 or path.is_symlink():
        raise InternError(
            f"{path} is not a private directory of yours (owner or mode changed)",
            hint=f"remove it (rm -r {path}) and try again",
        )
    return path


def socket_path(home: Path, session_id: str) -> Path:
    tag = hashlib.sha256(str(Path(home).resolve()).encode()).hexdigest()[:10]
    return socket_dir() / f"{session_id}-{tag}.sock"


def host_file(home: Path, session_id: str) -> Path:
    return Path(home) / "run" / f"{session_id}.host.json"


def spec_for(options, *, kind: str, home: Path, session_id: str, **extra: Any) -> dict[str, Any]:
    """What the session process needs to build the session: the options as JSON (callbacks dropped)."""
    fields = {}
    for f in dataclasses.fields(options):
        value = getattr(options, f.name)
        if callable(value):
            continue
        if dataclasses.is_dataclass(value):
            value = dataclasses.asdict(value)
        fields[f.name] = value
    return {"kind": kind, "home": str(home), "session_id": session_id, "options": fields, **extra}


def spawn_session(
    home: Path,
    *,
    options=None,
    resume_id: str | None = None,
    fork: dict | None = None,
    overrides: dict[str, Any] | None = None,
) -> str:
    """Start the session process for a new session (`options`), a resumed one or a fork; returns its id.
    `overrides` are resume/fork's keyword arguments (model, api_base, approve, settings_overrides…)."""
    from ..store import open_store

    store = open_store(home)
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    if fork is not None:
        spec = {
            "kind": "fork",
            "session_id": store.new_session_id(),
            "parent_id": fork["parent_id"],
            "step": fork["step"],
            "home": str(home),
            "overrides": {**overrides, "instruction": fork.get("instruction")},
        }
        if fork.get("model"):
            spec["overrides"].setdefault("model", fork["model"])
    elif resume_id is not None:
        spec = {"kind": "resume", "session_id": resume_id, "home": str(home), "overrides": overrides}
    else:
        spec = spec_for(options, kind="start", home=home, session_id=store.new_session_id())
    return start_host(home, spec)


def start_host(home: Path, spec: dict[str, Any], *, timeout: float = STARTUP_TIMEOUT) -> str:
    """Start the session process described by `spec` and wait until it serves; returns the session id."""
    home = Path(home)
    session_id = spec["session_id"]
    run = home / "run"
    run.mkdir(parents=True, exist_ok=True)
    spec_file = run / f"{session_id}.spec.json"
    status_file = run / f"{session_id}.start.json"
    status_file.unlink(missing_ok=True)
    spec_file.write_text(json.dumps(spec))
    os.chmod(spec_file, 0o600)
    with open(run / f"{session_id}.host.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "intern_tui.host", str(spec_file)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,  # not in the terminal's session: SIGHUP and Ctrl+C don't reach it
            close_fds=True,
        )
    deadline = time.monotonic() + timeout
    hosted = host_file(home, session_id)
    while time.monotonic() < deadline:
        if hosted.exists() and _host_pid(hosted) == proc.pid:
            return session_id
        if proc.poll() is not None:
            raise _start_error(status_file, proc.returncode, run / f"{session_id}.host.log")
        time.sleep(0.05)
    proc.kill()
    raise InternError(
        f"the session process did not start within {timeout:g} s",
        hint=f"see {run / f'{session_id}.host.log'}",
    )


def _host_pid(path: Path) -> int | None:
    try:
        return int(json.loads(path.read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _start_error(status_file: Path, code: int, log: Path) -> InternError:
    try:
        status = json.loads(status_file.read_text())
    except (OSError, ValueError):
        status = {}
    message = status.get("error") or f"the session process exited with status {code} before it started"
    error = BadInput if status.get("exit_code") == 2 else InternError
    return error(message, hint=status.get("hint") or f"see {log}")


def live_host(home: Path, session_id: str) -> dict[str, Any] | None:
    """The host record of a session whose process is alive (its liveness lock is held), else None."""
    from ..store.db import SessionLock, check_session_id

    path = host_file(home, check_session_id(session_id))
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not SessionLock(Path(home) / "run" / f"{session_id}.lock").held_elsewhere():
        return None
    return info


def live_sessions(home: Path, conn) -> list[str]:
    """The sessions whose process is alive now, newest first."""
    from ..store.queries import active_session_ids

    return [sid for sid in active_session_ids(conn) if live_host(home, sid) is not None]


def rename_session(store, session_id: str, title: str) -> str:
    """`store.titles.rename_session`, reaching a session that runs in its own process over its socket."""
    from ..store.titles import rename_session as rename

    return rename(store, session_id, title, live=_rename_live)


def _rename_live(store, session_id: str, title: str) -> None:
    if live_host(store.home, session_id) is None:
        raise BadInput(
            f"session {session_id} is running in another intern-tui window",
            hint="rename it there (b: the session browser), or after it stops",
        )
    from .client import SessionClient

    client = SessionClient(store.home, session_id)
    try:
        client.rename(title)
    finally:
        client.close()
