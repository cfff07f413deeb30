"""Session titles: derived from the task when a session starts, renamed by the user later.

A rename is an event (`renamed`, payload {"title", "previous"}) like everything else, so replay, the
mirror and an export see it; the `sessions.title` projection follows it. A session that is running in
another process is renamed through that process (its supervisor emits the event), so the log keeps one
writer and gap-free seqs.
"""

from __future__ import annotations

import re
import time

from ..errors import BadInput
from ..events import Event, Kind, dumps

TITLE_MAX = 120  # a user's title (characters)
DERIVED_MAX = 60  # a title derived from the task
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def derive_title(task: str | None) -> str:
    """A short title from the task: its first line (or sentence), cut at a word near 60 characters."""
    text = " ".join((task or "").strip().splitlines()[0].split()) if (task or "").strip() else ""
    sentence = re.split(r"(?<=[.!?;])\s", text, maxsplit=1)[0]
    if 12 <= len(sentence) < len(text):
        text = sentence.rstrip(".;")
    if len(text) <= DERIVED_MAX:
        return text
    cut = text[: DERIVED_MAX - 1].rsplit(" ", 1)[0]
    return (cut if len(cut) >= DERIVED_MAX // 2 else text[: DERIVED_MAX - 1]).rstrip(" ,;:") + "…"


def clean_title(title: str) -> str:
    """A title as typed, checked: one line, no control characters, 1..120 characters."""
    text = " ".join(_CONTROL.sub(" ", title or "").split())
    if not text:
        raise BadInput("the title is empty", hint='intern-tui sessions rename ID "a short title"')
    if len(text) > TITLE_MAX:
        raise BadInput(f"the title is {len(text)} characters; at most {TITLE_MAX}")
    return text


def rename_session(store, session_id: str, title: str, live=None) -> str:
    """Give a session a new title (a `renamed` event). Returns the cleaned title. A session that runs in
    another process writes its own log: `live(store, session_id, title)` asks it to (host.rename_session
    passes the way over its socket)."""
    from .db import write_transaction
    from .projection import insert_events

    title = clean_title(title)
    lock = store.lock_session(session_id)
    if not lock.try_acquire():  # it runs in another process: that process writes its log
        if live is None:
            raise BadInput(f"session {session_id} is running in another process", hint="rename it there")
        live(store, session_id, title)
        return title
    try:
        conn = store.connect()
        try:
            with write_transaction(conn):
                row = conn.execute("SELECT title FROM sessions WHERE id = ?", (session_id,)).fetchone()
                if row is None:
                    raise BadInput(f"no session {session_id}")
                seq = conn.execute(
                    "SELECT coalesce(max(seq), 0) FROM events WHERE session_id = ?", (session_id,)
                ).fetchone()[0]
                payload = {"title": title, "previous": row[0]}
                event = Event(session_id, seq + 1, time.time(), Kind.RENAMED, None, payload, dumps(payload))
                insert_events(conn, [event])
        finally:
            conn.close()
    finally:
        lock.release()
    return title
