"""Control sequences from agent output, job logs or imported sessions never reach the terminal raw."""

from __future__ import annotations

import json
import subprocess
import sys

from helpers import stream_text, until, write_policy

from intern_tui.agent.session import SessionOptions
from intern_tui.sanitize import clean_text
from intern_tui.store import open_store
from intern_tui.store.queries import iter_events
from intern_tui.store.transfer import import_events
from intern_tui.tui.app import InternApp

# clipboard write (OSC 52), a hyperlink that lies (OSC 8), clear screen, a title change, 8-bit CSI, a bell
HOSTILE = (
    "\x1b]52;c;ZWNobyBwd25lZA==\x07\x1b]8;;https://evil.example\x1b\\click me\x1b]8;;\x1b\\"
    "\x1b[2J\x1b]0;owned\x07\x9b31mred\x07 end"
)


def test_clean_text_keeps_text_and_layout():
    assert clean_text(HOSTILE) == "click mered end"
    assert clean_text("loss 0.5\tok\nnext") == "loss 0.5\tok\nnext"
    assert clean_text(" 10%\r 20%\r\n") == " 10%\n 20%\n"


def _policy(tmp_path):
    code = f"print({HOSTILE!r})\nwrite_file('notes.md', {HOSTILE!r})"
    return write_policy(
        tmp_path / "p.jsonl", [("Print something hostile.", code), ("Done.", "final_answer('x')")]
    )


def test_headless_output_and_the_store_hold_no_escape(home, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "intern_tui", "run", "--headless", "--model", _policy(tmp_path), "t"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "click me" in done.stdout
    assert "\x1b" not in done.stdout + done.stderr and "\x9b" not in done.stdout and "\x07" not in done.stdout
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "intern_tui",
            "run",
            "--headless",
            "--json",
            "--model",
            _policy(tmp_path),
            "t",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "\\u001b" not in done.stdout and "\x9b" not in done.stdout
    store = open_store(home)
    conn = store.connect()
    payloads = " ".join(
        e.payload_json for (sid,) in conn.execute("SELECT id FROM sessions") for e in iter_events(conn, sid)
    )
    assert "click me" in payloads and "\\u001b" not in payloads and "\\u0007" not in payloads


async def test_the_tui_stream_shows_no_escape(runtime, tmp_path):
    app = InternApp(runtime, options=SessionOptions(task="t", model=_policy(tmp_path)))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.model.status.current == "done")
        text = stream_text(app.live_dashboard)
        assert "click me" in text and "\x1b" not in text and "\x9b" not in text


def test_an_imported_session_is_cleaned(home):
    lines = [
        {"session_id": "261203-0000-abcd", "seq": 1, "ts": 1.0, "kind": "session_started", "step": None,
         "payload": {"task": "imported", "model": "script:x"}},
        {"session_id": "261203-0000-abcd", "seq": 2, "ts": 2.0, "kind": "model_output", "step": 1,
         "payload": {"text": HOSTILE, "thought": HOSTILE}},
    ]  # fmt: skip
    store = open_store(home)
    sid, count = import_events(store, [json.dumps(x) for x in lines], source="hostile.jsonl")
    assert count == 2
    stored = [e.payload for e in iter_events(store.connect(), sid)]
    assert stored[1]["text"] == "click mered end"
