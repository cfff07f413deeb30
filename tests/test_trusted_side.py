"""The trusted side of every approval, attacked through the real loop (scripted policy → CodeAgent → worker →
ToolGate → approvals → jobs): what runs is what was approved, a job gets only the secrets it was given and
its log gives none back, the approval shows everything, the audit log can't be forged from agent code."""

from __future__ import annotations

import base64
import json
import os
import shutil

import pytest
from helpers import wait_for, write_policy

import intern_tui.redact as redact
from intern_tui.agent.approvals import describe
from intern_tui.agent.session import Runtime, SessionOptions, start_session
from intern_tui.sandbox import probe
from intern_tui.store.queries import iter_events

TOKEN = "hf_TrustedSideCanaryQwErTyUiOpAsDfGh"
AWS = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYTRUSTEDKEY"


@pytest.fixture
def secrets_in_env(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS)
    monkeypatch.setattr(redact, "_default", None)


def _start(home, tmp_path, turns, approve="ask", start=True):
    rt = Runtime.open(home)
    options = SessionOptions(task="t", model=write_policy(tmp_path / "p.jsonl", turns), approve=approve)
    return rt, start_session(rt, options, start=start)


def _events(rt, sup, kinds):
    rt.writer.flush()
    return list(iter_events(rt.store.connect(), sup.emitter.session_id, kinds=kinds))


def _pending(sup, n=1):
    wait_for(lambda: len(sup.approvals.pending()) >= n)
    return sup.approvals.pending()[0]


def _job_output(rt, sup) -> str:
    job_id = wait_for(lambda: _events(rt, sup, ["job_started"]))[-1].payload["job_id"]
    wait_for(lambda: _events(rt, sup, ["job_finished"]))
    return (rt.store.workspace(sup.emitter.session_id) / "jobs" / job_id / "log.txt").read_text()


WAIT = "import time\nwhile job_status(job)['status'] == 'running':\n    time.sleep(0.2)\nprint(job_logs(job))"
SAFE = "import helper\nprint('ran', helper.WHAT)\n"


def test_code_rewritten_after_the_approval_was_shown_does_not_run(home, tmp_path):
    turns = [
        ("Write.", f"write_file('train.py', {SAFE!r})\nwrite_file('helper.py', \"WHAT = 'safe'\\n\")"),
        ("Launch.", "job = launch_job('train.py')"),
        ("Wait.", WAIT),
        ("Done.", "final_answer('ok')"),
    ]
    rt, sup = _start(home, tmp_path, turns)
    try:
        request = _pending(sup)
        ws = rt.store.workspace(sup.emitter.session_id)
        # while the person reads the request, the script and the module it imports are swapped
        (ws / "train.py").write_text("import helper\nprint('ran', 'EVIL', helper.WHAT)\n")
        (ws / "helper.py").write_text("WHAT = 'evil'\n")
        assert sup.decide(request.id, "approve")
        assert "ran safe" in _job_output(rt, sup)  # what was shown, not what is on disk now
        shown = _events(rt, sup, ["approval_requested"])[0].payload["pinned"]
        started = _events(rt, sup, ["job_started"])[0].payload
        assert started["pinned_sha256"] == shown["sha256"]
        assert "+print('ran', helper.WHAT)" in shown["diff"]  # the first approval shows the whole script
    finally:
        sup.wait(30)
        rt.close()


def test_the_next_approval_shows_the_diff_against_the_last_approved_code(home, tmp_path):
    turns = [
        ("Write.", "write_file('train.py', 'lr = 1e-4\\nprint(lr)\\n')"),
        ("Launch.", "print(launch_job('train.py'))"),
        ("Change.", "edit_file('train.py', 'lr = 1e-4', 'lr = 3e-3')\nwrite_file('rewards.py', 'X = 1\\n')"),
        ("Relaunch.", "print(launch_job('train.py'))"),
        ("Done.", "final_answer('ok')"),
    ]
    rt, sup = _start(home, tmp_path, turns, approve="all")
    try:
        assert sup.wait(60) and sup.status == "done", sup.error
        first, second = (e.payload["pinned"] for e in _events(rt, sup, ["approval_requested"]))
        assert second["previous_sha256"] == first["sha256"] != second["sha256"]
        assert "-lr = 1e-4" in second["diff"] and "+lr = 3e-3" in second["diff"]
        assert "b/rewards.py" in second["diff"]  # a new module the script could import is shown too
        lines = describe(_events(rt, sup, ["approval_requested"])[1].payload)
        assert any("+lr = 3e-3" in line for line in lines)
    finally:
        rt.close()


PRINT_SECRETS = (
    "import base64, os\n"
    "t = os.environ.get('HF_TOKEN') or ''\n"
    "print('plain', t)\n"
    "print('b64', base64.b64encode(t.encode()).decode())\n"
    "print('b64-shifted', base64.b64encode(b'x' + t.encode()).decode())\n"
    "print('hex', t.encode().hex())\n"
    "print('rev', t[::-1])\n"
    "print('aws', os.environ.get('AWS_SECRET_ACCESS_KEY'))\n"
)


def _leaks(text: str) -> list[str]:
    forms = {
        "plain": TOKEN,
        "b64": base64.b64encode(TOKEN.encode()).decode()[:-4],
        "hex": TOKEN.encode().hex(),
        "rev": TOKEN[::-1],
        "aws": AWS,
    }
    return [name for name, form in forms.items() if form in text]


def test_a_job_gets_no_secret_unless_the_approval_names_it(home, tmp_path, secrets_in_env):
    turns = [
        ("Write.", f"write_file('leak.py', {PRINT_SECRETS!r})"),
        ("Launch.", "job = launch_job('leak.py')\nprint(job)"),
        ("Read.", WAIT),
        ("Done.", "final_answer('ok')"),
    ]
    rt, sup = _start(home, tmp_path, turns, approve="all")
    try:
        assert sup.wait(90) and sup.status == "done", sup.error
        log = _job_output(rt, sup)
        assert "plain \n" in log and "aws None" in log  # nothing was inherited
    finally:
        rt.close()


def test_a_named_secret_reaches_the_job_and_never_comes_back_in_any_encoding(home, tmp_path, secrets_in_env):
    turns = [
        ("Write.", f"write_file('leak.py', {PRINT_SECRETS!r})"),
        ("Launch.", "job = launch_job('leak.py', secrets=['HF_TOKEN'])\nprint(job)"),
        ("Read.", WAIT),
        ("Read it as a file too.", "print(read_file('jobs/' + job + '/log.txt'))"),
        ("Done.", "final_answer('ok')"),
    ]
    rt, sup = _start(home, tmp_path, turns)
    try:
        request = _pending(sup)
        lines = describe(request.view)
        assert any(
            line.strip().startswith('secrets = ["HF_TOKEN"]') for line in lines
        )  # shown in the approval
        assert any("passes secrets: HF_TOKEN" in line for line in lines)
        assert sup.decide(request.id, "approve")
        assert sup.wait(90) and sup.status == "done", sup.error
        assert _leaks(_job_output(rt, sup)) == ["plain", "b64", "hex", "rev"]  # the job did get it
        observations = " ".join(e.payload["text"] or "" for e in _events(rt, sup, ["observation"]))
        assert "b64-shifted" in observations and "[REDACTED]" in observations
        assert _leaks(observations) == []
        seen = " ".join(str(m.content) for call in sup.agent.model.inner.seen_messages for m in call)
        assert _leaks(seen) == []
        rt.writer.flush()
        stored = b"".join(p.read_bytes() for p in rt.store.home.iterdir() if p.name.startswith("sessions.db"))
        assert _leaks(stored.decode("utf-8", "replace")) == []
    finally:
        rt.close()


def test_secrets_printed_by_agent_code_in_pieces_or_encoded_are_redacted(home, tmp_path, secrets_in_env):
    # the worker holds no secret: the agent can only get one through a tool result, e.g. a file a job wrote
    turns = [
        ("Plant.", "print('ok')"),
        (
            "Leak in pieces.",
            "t = read_file('found.txt').strip()\nprint(t[:17])\nprint(t[17:])\n"
            "print([ord(c) for c in t])\nprint(t[::-1])\nprint(' '.join(t[i:i+5] for i in range(0, len(t), 5)))",
        ),
        ("Done.", "final_answer('ok')"),
    ]
    rt, sup = _start(home, tmp_path, turns, start=False)
    (rt.store.workspace(sup.emitter.session_id) / "found.txt").write_text(TOKEN + "\n")
    sup.start()
    try:
        assert sup.wait(60) and sup.status == "done", sup.error
        text = _events(rt, sup, ["observation"])[1].payload["text"]
        assert TOKEN[:17] not in text and TOKEN[17:] not in text and TOKEN[::-1] not in text
        assert str(ord(TOKEN[0])) + ", " + str(ord(TOKEN[1])) not in text
        assert TOKEN[:5] + " " + TOKEN[5:10] not in text
    finally:
        rt.close()


def test_the_approval_view_never_truncates():
    view = {
        "id": "ap-1",
        "tool": "launch_job",
        "arguments": {
            "args": ["--pad"] + ["x" * 80] * 60,
            "script": "train.py",
            "env": {"PYTHONSTARTUP": "e.py"},
        },
        "estimate": {"summary": "local job"},
    }
    text = "\n".join(describe(view, width=100))
    assert text.count("x" * 80) == 60  # all of the padding…
    assert '"PYTHONSTARTUP": "e.py"' in text  # …and the env it used to hide
    assert text.index("script") < text.index("env") < text.index("args")  # what matters most first


needs_bwrap = pytest.mark.skipif(probe().level != "bubblewrap", reason=probe().detail)


@needs_bwrap
def test_agent_code_cannot_forge_the_audit_log(home, tmp_path):
    """Patching the JSON encoder (or anything else) in agent code changes the worker's process only: the
    log, the approval and what runs are serialised in the session process."""
    forge = (
        "import json\n"
        'json.JSONEncoder.encode = lambda self, o: \'{"script": "train_sft.py"}\'\n'
        'json.dumps = lambda *a, **k: \'{"script": "train_sft.py"}\'\n'
        "print(launch_job('evil.py'))"
    )
    turns = [
        ("Write.", "write_file('evil.py', \"print('evil ran')\\n\")"),
        ("Forge.", forge),
        ("Done.", "print('done')"),
    ]
    rt, sup = _start(home, tmp_path, turns, approve="all", start=False)
    ws = rt.store.workspace(sup.emitter.session_id)
    shutil.copy(os.path.join(os.path.dirname(__file__), "raw_worker.py"), ws / "raw_worker.py")
    try:
        executor = sup.agent.python_executor
        executor.wait_ready()
        executor.cleanup()
        executor.worker_module, executor.extra_paths = "raw_worker", (str(ws),)
        sup.start()
        assert sup.wait(60) and sup.status == "done", sup.error
        requested = _events(rt, sup, ["approval_requested"])[0].payload
        started = _events(rt, sup, ["job_started"])[0].payload
        assert requested["arguments"]["script"] == "evil.py" == started["script"]
        assert requested["pinned"]["script"] == "evil.py"
        calls = [json.loads(e.payload_json) for e in _events(rt, sup, ["tool_call"])]
        assert [c["arguments"].get("script") for c in calls if c["tool"] == "launch_job"] == ["evil.py"]
    finally:
        rt.close()


async def test_the_approval_modal_shows_what_will_run(runtime, tmp_path):
    from rich.console import Console

    from intern_tui.tui.app import InternApp
    from intern_tui.tui.screens.modals import ApprovalModal, request_renderable
    from intern_tui.tui.widgets.approvals import ApprovalQueue

    turns = [
        ("Write.", "write_file('train.py', 'print(\"hello from train\")\\n')"),
        ("Launch.", "print(launch_job('train.py'))"),
        ("Done.", "final_answer('x')"),
    ]
    app = InternApp(
        runtime, options=SessionOptions(task="t", model=write_policy(tmp_path / "p.jsonl", turns))
    )
    async with app.run_test(size=(140, 40)) as pilot:
        from helpers import until

        queue = app.dashboard.query_one(ApprovalQueue)
        await until(pilot, lambda: queue.items)
        queue.focus()
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ApprovalModal))
        console = Console(width=130, record=True)
        console.print(request_renderable(app.screen.item))
        shown = console.export_text()
        assert "snapshot sha256:" in shown and '+print("hello from train")' in shown
        await pilot.press("d")
        await pilot.press("enter")
        await until(pilot, lambda: app.model.status.current == "done")


PUSH = "print(push_to_hub('outputs/final', 'me/tiny-sft'))"


def _push_session(home, tmp_path):
    from research_fakes import FakeHubApi

    turns = [
        (
            "Save.",
            "write_file('outputs/final/config.json', '{\"model_type\": \"llama\"}')\n"
            "write_file('outputs/final/README.md', '# tiny\\n')",
        ),
        ("Push.", f"try:\n    {PUSH}\nexcept Exception as exc:\n    print('push failed:', exc)"),
        ("Done.", "final_answer('ok')"),
    ]
    rt, sup = _start(home, tmp_path, turns, start=False)
    api = FakeHubApi()
    sup.gate.ctx.hub_api = api
    sup.start()
    return rt, sup, api


def test_files_changed_after_an_upload_was_approved_are_not_uploaded(home, tmp_path):
    rt, sup, api = _push_session(home, tmp_path)
    try:
        request = _pending(sup)
        shown = _events(rt, sup, ["approval_requested"])[0].payload["pinned"]
        assert shown["kind"] == "upload" and shown["files"] == [
            "outputs/final/README.md",
            "outputs/final/config.json",
        ]
        ws = rt.store.workspace(sup.emitter.session_id)
        # while the person reads the request, a job swaps the card and drops in another file
        (ws / "outputs/final/README.md").write_text("# tiny\nEVIL\n")
        (ws / "outputs/final/stolen.txt").write_text("x")
        assert sup.decide(request.id, "approve")
        assert sup.wait(60) and sup.status == "done", sup.error
    finally:
        rt.close()
    assert "upload_folder" not in api.names() and "create_repo" not in api.names()
    (result,) = [e.payload for e in _events(rt, sup, ["tool_result"]) if e.payload["tool"] == "push_to_hub"]
    assert "not the ones approved" in result["error"]
    assert (
        "changed: outputs/final/README.md" in result["error"]
        and "added: outputs/final/stolen.txt" in result["error"]
    )


def test_an_unchanged_upload_sends_exactly_the_approved_files(home, tmp_path):
    rt, sup, api = _push_session(home, tmp_path)
    try:
        request = _pending(sup)
        assert sup.decide(request.id, "approve")
        assert sup.wait(60) and sup.status == "done", sup.error
    finally:
        rt.close()
    (upload,) = [kw for name, kw in api.calls if name == "upload_folder"]
    assert sorted(upload["allow_patterns"]) == ["README.md", "config.json"]
    lines = describe(_events(rt, sup, ["approval_requested"])[0].payload)
    assert any("uploads exactly 2 files" in line for line in lines) and "    outputs/final/README.md" in lines
