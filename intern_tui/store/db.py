"""Opening the session store safely, and the per-session liveness lock.

`open_store(home)` validates before it touches anything: an unusable home, a file that isn't SQLite, a
database that isn't ours or comes from a newer intern-tui all raise `BadInput` (exit 2) and leave the
file exactly as it was.

Liveness: a process running a session holds an exclusive `flock` on `run/<id>.lock`. The kernel drops
the lock when the process dies however it dies (kill -9, power loss, lost ssh), so at the next start a
session marked active whose lock can be taken is known dead and is marked `interrupted`.
"""

from __future__ import annotations

import fcntl
import os
import re
import secrets
import shutil
import socket
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path

from ..errors import BadInput
from ..events import ACTIVE_STATUSES, Event, Kind, dumps
from .projection import insert_events
from .schema import SCHEMA_VERSION, current_version, migrate

DB_NAME = "sessions.db"
MOVE_ASIDE = "move the file aside (nothing was changed) or pass another --home"


@contextmanager
def write_transaction(conn: sqlite3.Connection):
    """BEGIN IMMEDIATE … COMMIT, or ROLLBACK on any exception (unless SQLite already rolled back, as it
    does on a full disk). Connections from `Store.connect` are in autocommit mode: this is how we write."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


class Store:
    """The sessions database and the per-session workspaces under one home directory."""

    def __init__(self, home: Path):
        self.home = home
        self.path = home / DB_NAME
        self.workspaces = home / "workspaces"
        self.run_dir = home / "run"

    def connect(self) -> sqlite3.Connection:
        """A new connection (one per thread). Autocommit mode: writers use explicit transactions."""
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    def workspace(self, session_id: str) -> Path:
        check_session_id(session_id)
        return self.workspaces / session_id

    # -- liveness ---------------------------------------------------------------------------------

    def lock_session(self, session_id: str) -> SessionLock:
        return SessionLock(self.run_dir / f"{check_session_id(session_id)}.lock")

    def recover_dead_sessions(self) -> list[str]:
        """Mark sessions whose process died as interrupted (with an event saying so). Returns their ids."""
        conn = self.connect()
        recovered = []
        try:
            rows = conn.execute(
                f"SELECT id FROM sessions WHERE status IN ({','.join('?' * len(ACTIVE_STATUSES))})",
                ACTIVE_STATUSES,
            ).fetchall()
            for (session_id,) in rows:
                lock = self.lock_session(session_id)
                if not lock.try_acquire():
                    continue  # alive in another process
                try:
                    if self._mark_interrupted(conn, session_id):
                        recovered.append(session_id)
                finally:
                    lock.release(remove=True)
        finally:
            conn.close()
        return recovered

    def _mark_interrupted(self, conn: sqlite3.Connection, session_id: str) -> bool:
        with write_transaction(conn):
            status = conn.execute("SELECT status FROM sessions WHERE id = ?", (session_id,)).fetchone()
            if not status or status[0] not in ACTIVE_STATUSES:
                return False
            seq = conn.execute(
                "SELECT coalesce(max(seq), 0) FROM events WHERE session_id = ?", (session_id,)
            ).fetchone()[0]
            payload = {"reason": "process ended unexpectedly", "detected_by": "startup recovery"}
            insert_events(
                conn,
                [Event(session_id, seq + 1, time.time(), Kind.INTERRUPTED, None, payload, dumps(payload))],
            )
            return True

    def new_session_id(self) -> str:
        """Short, sortable, unique: 261122-2048-a1b2 (date-time of creation plus 4 random hex)."""
        return time.strftime("%y%m%d-%H%M", time.localtime()) + "-" + secrets.token_hex(2)


_SESSION_ID = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,63}$")


def check_session_id(session_id: str) -> str:
    """Session ids name folders (workspaces, locks): refuse anything that could point elsewhere."""
    if not isinstance(session_id, str) or not _SESSION_ID.match(session_id) or ".." in session_id:
        raise BadInput(f"invalid session id {session_id!r}: use letters, digits, '.', '_' or '-' (max 64)")
    return session_id


class SessionLock:
    """An exclusive flock held for as long as a session runs in this process."""

    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())
        self._fd = fd
        return True

    def held_elsewhere(self) -> bool:
        """Is another process holding this lock right now? (Probes without taking or touching it.)"""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        finally:
            os.close(fd)

    def release(self, remove: bool = False) -> None:
        if self._fd is None:
            return
        if remove:
            self.path.unlink(missing_ok=True)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None


def open_store(home: Path, *, create: bool = True) -> Store:
    """Validate `home` and its database, create or migrate the schema, and return the Store."""
    home = Path(home).expanduser()
    hint_home = "pass a writable directory with --home DIR or set INTERN_TUI_HOME"
    if home.exists() and not home.is_dir():
        raise BadInput(
            f"cannot use {home} as the intern-tui home: it is a file, not a directory", hint=hint_home
        )
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(
            f"cannot use {home} as the intern-tui home: {exc.strerror or exc}", hint=hint_home
        ) from exc
    if not home.is_dir():
        raise BadInput(f"cannot use {home} as the intern-tui home: not a directory", hint=hint_home)
    if not os.access(home, os.W_OK | os.X_OK):
        raise BadInput(f"cannot use {home} as the intern-tui home: not writable", hint=hint_home)

    store = Store(home)
    if store.path.exists() and not store.path.is_file():
        raise BadInput(f"{store.path} is not a file", hint="move it aside or use another --home")
    if not create and not store.path.exists():
        raise BadInput(f"no sessions database in {home}", hint="run a session first, or pass --home DIR")

    try:
        conn = store.connect()
    except sqlite3.OperationalError as exc:
        raise BadInput(f"cannot open {store.path}: {exc}", hint=hint_home) from exc
    except sqlite3.DatabaseError as exc:
        raise BadInput(f"{store.path} is not a usable SQLite database ({exc})", hint=MOVE_ASIDE) from exc
    try:
        version = _inspect(store.path, conn)
        if version < SCHEMA_VERSION:
            if version > 0:
                _backup(store.path, conn, version)
            migrate(conn)
    except sqlite3.OperationalError as exc:
        if "readonly" in str(exc) or "unable to open" in str(exc):
            raise BadInput(f"cannot write {store.path}: {exc}", hint=hint_home) from exc
        raise
    finally:
        conn.close()
    return store


def _inspect(path: Path, conn: sqlite3.Connection) -> int:
    """The schema version of the database at `path`, or BadInput when it can't be ours to use."""
    try:
        version = current_version(conn)
    except sqlite3.DatabaseError as exc:
        raise BadInput(f"{path} is not a usable SQLite database ({exc})", hint=MOVE_ASIDE) from exc
    if version is None:
        raise BadInput(f"{path} is an SQLite database, but not an intern-tui one", hint=MOVE_ASIDE)
    if version > SCHEMA_VERSION:
        raise BadInput(
            f"{path} was written by a newer intern-tui (schema {version}, this one reads up to {SCHEMA_VERSION})",
            hint="upgrade intern-tui (pip install -U intern-tui) or pass another --home",
        )
    # Only now that the file is known to be ours: journal_mode=WAL is persistent and rewrites the header.
    conn.execute("PRAGMA journal_mode = WAL").fetchone()
    return version


def _backup(path: Path, conn: sqlite3.Connection, version: int) -> None:
    """Keep a copy of the database as it was before a migration touches it."""
    target = path.with_name(f"{path.name}.v{version}.bak")
    if not target.exists():
        conn.execute("PRAGMA wal_checkpoint(FULL)")
        shutil.copy2(path, target)
