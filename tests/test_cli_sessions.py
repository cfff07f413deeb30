import json
import subprocess
import sys

import pytest
from helpers import running_store

from intern_tui.bus import Emitter
from intern_tui.cli import main


@pytest.fixture
def recorded(home):
    """Two sessions: one finished with an approval, a job and a file; one still running."""
    with running_store(home) as (store, bus, writer):
        em = Emitter(bus, "261120-0900-aaaa")
        em.emit("session_started", {"task": "SFT a tiny llama", "model": "script:demo.jsonl", "max_steps": 9})
        em.emit("model_output", {"text": "Look at the data."}, step=1)
        em.emit("file_written", {"path": "train_sft.py", "version": 1, "content": "a\n"}, step=1)
        em.emit(
            "approval_requested",
            {"id": "ap1", "tool": "launch_job", "arguments": {"script": "train_sft.py"}},
            step=2,
        )
        em.emit("approval_decided", {"id": "ap1", "decision": "approve"}, step=2)
        em.emit("job_started", {"job_id": "job-1", "backend": "local", "script": "train_sft.py"}, step=2)
        em.emit("job_finished", {"job_id": "job-1", "status": "completed", "exit_code": 0}, step=3)
        em.emit("final_answer", {"answer": "loss went from 5.7 to 1.5"}, step=3)
        em.emit("session_ended", {"status": "done"}, step=3)
        other = Emitter(bus, "261121-1000-bbbb")
        other.emit("session_started", {"task": "GRPO on gsm8k", "model": "openai/gpt-5"})
        lock = store.lock_session(other.session_id)
        lock.try_acquire()
        writer.flush()
        yield store
        lock.release()


def test_list_json_newest_first(recorded, capsys):
    assert main(["sessions", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in rows] == ["261121-1000-bbbb", "261120-0900-aaaa"]
    assert rows[1]["status"] == "done" and rows[1]["steps"] == 3 and rows[0]["status"] == "running"
    assert {"id", "task", "model", "status", "started_at", "steps"} <= set(rows[0])


def test_list_text(recorded, capsys):
    assert main(["sessions", "list"]) == 0
    out = capsys.readouterr().out
    assert "SFT a tiny llama" in out and "261121-1000-bbbb" in out and "done" in out


def test_show_json_has_the_contract_fields(recorded, capsys):
    assert main(["sessions", "show", "261120", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    for key in (
        "id",
        "task",
        "model",
        "status",
        "started_at",
        "ended_at",
        "steps",
        "event_count",
        "approvals",
        "jobs",
        "files",
        "final_answer",
    ):
        assert key in d
    assert d["event_count"] == 9 and d["final_answer"] == "loss went from 5.7 to 1.5"
    assert d["approvals"][0]["tool"] == "launch_job" and d["approvals"][0]["decision"] == "approve"
    assert d["jobs"] == [{**d["jobs"][0], "id": "job-1", "backend": "local", "status": "completed"}]
    assert d["files"][0]["path"] == "train_sft.py" and d["files"][0]["versions"] == 1


def test_show_text(recorded, capsys):
    assert main(["sessions", "show", "last"]) == 0
    assert "GRPO on gsm8k" in capsys.readouterr().out


def test_export_events_to_stdout_and_file(recorded, capsys, tmp_path):
    assert main(["sessions", "export", "261120", "--format", "events"]) == 0
    lines = capsys.readouterr().out.splitlines()
    events = [json.loads(x) for x in lines]
    assert [e["seq"] for e in events] == list(range(1, 10))
    assert events[0]["kind"] == "session_started" and events[-1]["kind"] == "session_ended"
    out = tmp_path / "out.jsonl"
    assert main(["sessions", "export", "261120", "-o", str(out)]) == 0
    assert out.read_text().splitlines() == lines


def test_unknown_session_is_exit_2_with_one_line(recorded, capsys):
    assert main(["sessions", "show", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("intern-tui: error: no session with id 'nope'")
    assert "Traceback" not in err


def test_export_to_unwritable_path_is_exit_2(recorded, capsys, tmp_path):
    (tmp_path / "f").write_text("")
    assert main(["sessions", "export", "261120", "-o", str(tmp_path / "f" / "x.jsonl")]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_console_script_help_and_bad_home(tmp_path):
    exe = [sys.executable, "-m", "intern_tui"]
    help_out = subprocess.run([*exe, "--help"], capture_output=True, text=True)
    assert help_out.returncode == 0 and "sessions" in help_out.stdout
    (tmp_path / "file").write_text("x")
    bad = subprocess.run(
        [*exe, "--home", str(tmp_path / "file"), "sessions", "list"], capture_output=True, text=True
    )
    assert bad.returncode == 2
    assert bad.stderr.splitlines()[0].startswith("intern-tui: error: cannot use")
    assert "Traceback" not in bad.stderr
    usage = subprocess.run([*exe, "sessions", "frobnicate"], capture_output=True, text=True)
    assert usage.returncode == 2
