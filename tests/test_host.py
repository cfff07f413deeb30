"""Sessions in their own process: started detached, attached from several clients, surviving them.

Every test drives the real CLI and real session processes (`python -m intern_tui.host`)."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time

import pytest
from helpers import wait_for, write_policy

from intern_tui.host import live_host, socket_path
from intern_tui.host.client import SessionClient
from intern_tui.store import open_store
from intern_tui.store.queries import get_session, iter_events

LAUNCH = [
    ("Write.", "write_file('t.py', 'import time\\nprint(\"job ran\")\\ntime.sleep(60)\\n')"),
    ("Launch.", "job = launch_job('t.py')\nprint(job)"),
    (
        "Watch.",
        "import time\nwhile job_status(job)['status'] in ('running', 'canceling'):\n    time.sleep(0.2)\nprint(job_status(job))",
    ),
    ("Done.", "final_answer('ok')"),
]


def cli(*args, timeout=120, **kw):
    return subprocess.run(
        [sys.executable, "-m", "intern_tui", *args], capture_output=True, text=True, timeout=timeout, **kw
    )


def detach(home, tmp_path, turns, *extra) -> str:
    model = write_policy(tmp_path / "p.jsonl", turns)
    done = cli("run", "--detach", "--model", model, *extra, "host test")
    assert done.returncode == 0, done.stderr
    return done.stdout.split()[1]


def events(home, sid, kinds=None):
    conn = open_store(home).connect()
    try:
        return list(iter_events(conn, sid, kinds=kinds))
    finally:
        conn.close()


def status(home, sid):
    conn = open_store(home).connect()
    try:
        return get_session(conn, sid)["status"]
    finally:
        conn.close()


@pytest.fixture
def stop_all(home):
    started = []
    yield started
    for sid in started:
        info = live_host(home, sid)
        if info:
            os.kill(info["pid"], signal.SIGKILL)


def test_a_detached_session_runs_without_its_terminal_and_is_listed_live(home, tmp_path, stop_all):
    sid = detach(home, tmp_path, LAUNCH)
    stop_all.append(sid)
    wait_for(lambda: status(home, sid) == "waiting")  # the launch waits for someone who attaches
    listed = json.loads(cli("sessions", "list", "--json").stdout)
    assert listed[0]["id"] == sid and listed[0]["live"] and listed[0]["pending_approvals"] == 1
    text = cli("sessions", "list").stdout
    assert f"{sid}  waiting*" in text and "[1 pending]" in text
    # the socket is its owner's alone
    path = socket_path(home, sid)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_two_clients_deciding_the_same_request_record_exactly_one_decision(home, tmp_path, stop_all):
    sid = detach(home, tmp_path, LAUNCH)
    stop_all.append(sid)
    wait_for(lambda: status(home, sid) == "waiting")
    a, b = SessionClient(home, sid), SessionClient(home, sid)
    request = a.describe()["pending"][0]
    results = []
    barrier = threading.Barrier(2)

    def decide(client, decision):
        barrier.wait()
        results.append((decision, client.decide(request["id"], decision)))

    threads = [
        threading.Thread(target=decide, args=(a, "approve")),
        threading.Thread(target=decide, args=(b, "deny")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(ok for _, ok in results) == [False, True]
    wait_for(lambda: events(home, sid, ["approval_decided"]))
    decided = events(home, sid, ["approval_decided"])
    assert len(decided) == 1
    winner = next(d for d, ok in results if ok)
    assert decided[0].payload["decision"] == winner
    a.stop()
    assert a.wait(30)
    a.close()
    b.close()


def test_killing_a_client_loses_nothing_and_stops_nothing(home, tmp_path, stop_all):
    sid = detach(home, tmp_path, LAUNCH)
    stop_all.append(sid)
    follower = subprocess.Popen(
        [sys.executable, "-m", "intern_tui", "attach", sid, "--headless"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    wait_for(lambda: status(home, sid) == "waiting")
    line = ""
    while "approval requested" not in line:  # the follower saw the history up to the request
        line = follower.stdout.readline()
        assert line, "the follower ended early"
    follower.kill()  # kill -9 of a client
    follower.wait()
    client = SessionClient(home, sid)
    sub = client.bus.subscribe("t")
    client.stream(0)
    wait_for(lambda: len(sub) >= len(events(home, sid)))
    assert client.decide(client.describe()["pending"][0]["id"], "approve")
    job_id = wait_for(lambda: events(home, sid, ["job_started"]))[0].payload["job_id"]
    assert client.cancel_job(job_id)["status"] == "canceled"  # cancel from a client, as the Jobs pane does
    assert client.wait(60) and client.status == "done"
    seqs = [e.seq for e in sub.drain()]
    assert seqs == list(range(1, len(seqs) + 1)) == [e.seq for e in events(home, sid)]  # gap-free, all of it
    delivered = [
        e.payload["text"] for e in events(home, sid, ["redirected"]) if e.payload["phase"] == "delivered"
    ]
    assert delivered == [f"The user canceled job {job_id} from the dashboard."]
    client.close()


def test_sighup_is_ignored_and_sigterm_stops_it_resumably(home, tmp_path, stop_all):
    hold = [("Hold.", "import time\ntime.sleep(60)"), ("Done.", "final_answer('ok')")]
    sid = detach(home, tmp_path, hold)
    stop_all.append(sid)
    wait_for(lambda: events(home, sid, ["code_action"]))
    pid = live_host(home, sid)["pid"]
    os.kill(pid, signal.SIGHUP)
    time.sleep(0.3)  # a moment for a signal to act: the session must still be alive after it
    assert live_host(home, sid) is not None and status(home, sid) == "running"
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: status(home, sid) == "interrupted", timeout=5)
    wait_for(lambda: live_host(home, sid) is None, timeout=5)
    assert "SIGTERM" in events(home, sid, ["interrupted"])[0].payload["reason"]


def test_a_killed_session_process_is_interrupted_and_resumes_detached(home, tmp_path, stop_all):
    hold = [("Hold.", "import time\ntime.sleep(60)"), ("Done.", "final_answer('resumed fine')")]
    sid = detach(home, tmp_path, hold)
    stop_all.append(sid)
    wait_for(lambda: events(home, sid, ["code_action"]))
    os.kill(live_host(home, sid)["pid"], signal.SIGKILL)
    wait_for(lambda: live_host(home, sid) is None)
    listed = json.loads(cli("sessions", "list", "--json").stdout)  # the next start notices the crash
    assert listed[0]["status"] == "interrupted" and not listed[0]["live"]
    done = cli("resume", sid, "--detach")
    assert done.returncode == 0, done.stderr
    wait_for(lambda: status(home, sid) == "done", timeout=60)
    assert events(home, sid, ["final_answer"])[-1].payload["answer"] == "resumed fine"


def test_a_session_that_cannot_start_says_why_in_one_line(home, tmp_path):
    done = cli("run", "--detach", "--model", f"script:{tmp_path}/missing.jsonl", "t")
    assert done.returncode == 2
    assert done.stderr.startswith("intern-tui: error: cannot read scripted policy")
    assert "Traceback" not in done.stderr
    done = cli("attach", "--headless")
    assert done.returncode == 2 and "no session is running in the background" in done.stderr


def test_renaming_a_live_session_goes_through_its_process(home, tmp_path, stop_all):
    sid = detach(home, tmp_path, LAUNCH)
    stop_all.append(sid)
    wait_for(lambda: status(home, sid) == "waiting")
    renamed = cli("sessions", "rename", sid, "live rename")
    assert renamed.returncode == 0, renamed.stderr
    wait_for(lambda: events(home, sid, ["renamed"]))
    (event,) = events(home, sid, ["renamed"])
    assert event.payload["title"] == "live rename"
    seqs = [e.seq for e in events(home, sid)]
    assert seqs == list(range(1, len(seqs) + 1))  # one writer: no gap, no duplicate
    listed = json.loads(cli("sessions", "list", "--json").stdout)
    assert listed[0]["title"] == "live rename"
    client = SessionClient(home, sid)
    client.stop()
    assert client.wait(30)
    client.close()
