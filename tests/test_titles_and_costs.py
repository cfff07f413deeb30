"""Session titles (derived from the task, renamed through the event spine, migrated for old stores) and
per-step costs (tool durations, tokens, cost) in `sessions show` and the stream."""

import json
import sqlite3

import pytest
from helpers import until, write_policy

from intern_tui.agent.session import Runtime, SessionOptions, start_session
from intern_tui.cli import main
from intern_tui.store import db as store_db
from intern_tui.store import open_store, schema
from intern_tui.store.queries import iter_events
from intern_tui.store.titles import derive_title
from intern_tui.tui.app import InternApp
from intern_tui.tui.screens.replay import load_session_model
from intern_tui.tui.screens.sessions import RenameModal, SessionBrowser

TASK = "Make Qwen3-0.6B better at GSM8K with SFT then GRPO. Stay under 2 GPU-hours and report the gain."
TURNS = [
    ("Write.", "print(write_file('notes.md', 'plan'))"),
    ("Read.", "print(read_file('notes.md'))"),
    ("Done.", "final_answer('ok')"),
]


def test_derived_titles():
    assert derive_title(TASK) == "Make Qwen3-0.6B better at GSM8K with SFT then GRPO"
    assert derive_title("short task") == "short task"
    long = "word " * 40
    assert derive_title(long).endswith("…") and len(derive_title(long)) <= 60
    assert derive_title("first line\nsecond line") == "first line"
    assert derive_title("") == ""


def run_session(home, tmp_path) -> str:
    rt = Runtime.open(home)
    try:
        sup = start_session(rt, SessionOptions(task=TASK, model=write_policy(tmp_path / "p.jsonl", TURNS)))
        assert sup.wait(60) and sup.status == "done"
        return sup.emitter.session_id
    finally:
        rt.close()


def test_rename_through_the_cli_is_an_event_and_shows_everywhere(home, tmp_path, capsys):
    sid = run_session(home, tmp_path)
    assert main(["sessions", "list", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["title"] == "Make Qwen3-0.6B better at GSM8K with SFT then GRPO"
    assert main(["sessions", "rename", sid[:8], "qwen gsm8k, first try"]) == 0
    capsys.readouterr()
    assert main(["sessions", "rename", sid, " \n "]) == 2
    assert "the title is empty" in capsys.readouterr().err
    assert main(["sessions", "show", sid, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "qwen gsm8k, first try"
    assert main(["sessions", "show", sid]) == 0
    assert "title     qwen gsm8k, first try" in capsys.readouterr().out
    assert main(["sessions", "list"]) == 0
    assert "qwen gsm8k, first try" in capsys.readouterr().out
    store = open_store(home)
    conn = store.connect()
    (renamed,) = list(iter_events(conn, sid, kinds=["renamed"]))
    assert renamed.payload == {"title": "qwen gsm8k, first try", "previous": row["title"]}
    events = list(iter_events(conn, sid))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert load_session_model(store, sid).title == "qwen gsm8k, first try"  # replay sees it


async def test_rename_in_the_session_browser(home, tmp_path):
    sid = run_session(home, tmp_path)
    rt = Runtime.open(home)
    try:
        app = InternApp(rt)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: app.screen is not None)
            await app.push_screen(SessionBrowser(rt.store))
            browser = app.screen
            await until(pilot, lambda: browser.rows)
            await pilot.press("ctrl+t")
            await until(pilot, lambda: isinstance(app.screen, RenameModal))
            app.screen.query_one("#rename-input").value = "renamed here"
            await pilot.press("enter")
            await until(pilot, lambda: browser.rows and browser.rows[0]["title"] == "renamed here")
    finally:
        rt.close()
    conn = sqlite3.connect(home / "sessions.db")
    assert conn.execute("SELECT title FROM sessions WHERE id=?", (sid,)).fetchone()[0] == "renamed here"


def test_v2_store_migrates_titles(home, tmp_path, monkeypatch):
    monkeypatch.setattr(schema, "SCHEMA_VERSION", 2)
    monkeypatch.setattr(store_db, "SCHEMA_VERSION", 2)
    sid = run_session(home, tmp_path)
    conn = sqlite3.connect(home / "sessions.db")
    conn.execute("UPDATE sessions SET title = substr(task, 1, 80)")  # what v2 stored
    conn.commit()
    monkeypatch.undo()
    open_store(home)
    assert [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY version")] == [1, 2, 3]
    title = conn.execute("SELECT title FROM sessions WHERE id=?", (sid,)).fetchone()[0]
    assert title == "Make Qwen3-0.6B better at GSM8K with SFT then GRPO"


def test_per_step_costs_in_show_and_the_stream(home, tmp_path, capsys):
    sid = run_session(home, tmp_path)
    assert main(["sessions", "show", sid, "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)["step_stats"]
    assert [s["step"] for s in stats] == [1, 2, 3]
    assert [[t["tool"] for t in s["tool_durations"]] for s in stats] == [["write_file"], ["read_file"], []]
    assert all(isinstance(t["duration_s"], float) for s in stats for t in s["tool_durations"])
    assert all(s["tokens"]["input"] > 0 and s["tokens"]["output"] > 0 for s in stats)
    assert all(s["cost"] == 0.0 for s in stats)  # a script costs nothing (known)
    assert main(["sessions", "show", sid]) == 0
    text = capsys.readouterr().out
    assert "steps (time · tools · tokens in/out · cost)" in text
    assert "write_file" in text and "$0.0000" in text
    model = load_session_model(open_store(home), sid)
    lines = [i.meta.get("stats", "") for i in model.stream if i.kind == "observation"]
    assert "write_file" in lines[0] and "tok" in lines[0] and "$0.0000" in lines[0]


@pytest.mark.parametrize("bad", ["", "x" * 121])
def test_bad_titles_are_one_clear_error(home, tmp_path, capsys, bad):
    sid = run_session(home, tmp_path)
    assert main(["sessions", "rename", sid, bad]) == 2
    err = capsys.readouterr().err
    assert err.startswith("intern-tui: error: the title") and "Traceback" not in err
