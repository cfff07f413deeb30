"""Approvals a person can read: every argument in full in the queue and the headless prompt, the cost facts
and guard flags, enter opens the whole request (with the script's diff), an edit's confirmation keeps every
value, and no toast covers the dashboard."""

import json

import pytest
from helpers import stream_text, until, write_policy

from intern_tui.agent.approvals import cost_facts, describe
from intern_tui.agent.session import SessionOptions
from intern_tui.commands.run import format_event
from intern_tui.events import Event
from intern_tui.tui.app import InternApp
from intern_tui.tui.screens.modals import ApprovalModal, EditModal
from intern_tui.tui.widgets.approvals import ApprovalQueue

LONG_ENV = {f"SETTING_{i}": "x" * 30 for i in range(6)}
LAUNCH = (
    "job = launch_job(script='train.py', args={'max-steps': 40, 'learning-rate': 0.0001, "
    f"'output-dir': 'outputs/a-rather-long-run-name-that-would-not-fit'}}, env={LONG_ENV!r}, timeout=3600)\n"
    "print(job)"
)
TURNS = [
    ("Write v1.", "print(write_file('train.py', 'import sys\\nprint(sys.argv)\\n'))"),
    ("Change it.", "print(edit_file('train.py', 'print(sys.argv)', 'print(\"args\", sys.argv)'))"),
    ("Train.", LAUNCH),
    ("Done.", "final_answer('x')"),
]


def widget_text(widget) -> str:
    return "\n".join(strip.text for strip in widget.render_lines(widget.region.reset_offset))


@pytest.mark.parametrize("size", [(160, 48), (80, 24)])
async def test_the_request_is_readable_and_enter_opens_it_whole(runtime, tmp_path, size):
    model = write_policy(tmp_path / "p.jsonl", TURNS)
    app = InternApp(runtime, options=SessionOptions(task="train", model=model, approve="ask"))
    async with app.run_test(size=size) as pilot:
        queue = lambda: app.dashboard.query_one(ApprovalQueue)  # noqa: E731
        await until(pilot, lambda: queue().items)
        await pilot.pause(0.2)
        item = queue().items[0]
        assert item.tool == "launch_job"
        shown = " ".join(widget_text(queue()).split())
        assert "backend local" in shown and "≤1 h" in shown and "$0.00" in shown
        label = str(queue().get_option_at_index(0).prompt)
        for key, value in LONG_ENV.items():  # never cut: every value of every argument
            assert f'"{key}": "{value}"' in label
        assert "outputs/a-rather-long-run-name-that-would-not-fit" in label
        assert "script diff vs" in label
        assert not app._notifications  # no toast over the stream or the plots
        # enter (with the stream focused, as it is at start) opens the whole request
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ApprovalModal))
        detail = app.screen.query_one("#approval-detail")
        await pilot.pause(0.1)
        text = widget_text(app.screen.query_one("#approval-detail Static"))
        assert "new script" in text and "+++ b/train.py" in text
        assert "SETTING_5" in " ".join(text.split())
        assert detail.has_focus
        # edit: the confirmation keeps every value
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, EditModal))
        edited = {**item.arguments, "args": {"max-steps": 30}, "timeout": 1800}
        app.screen.query_one("#edit-args").text = json.dumps(edited)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.model.status.current == "done")
        text = " ".join(stream_text(app.live_dashboard).split())
        assert "timeout=1800" in text and 'args={"max-steps": 30}' in text


def test_headless_prompt_and_output_show_every_argument_in_full():
    view = {
        "id": "ap-1",
        "tool": "launch_job",
        "arguments": {"script": "train.py", "backend": "hf", "flavor": "a100-large", "env": LONG_ENV},
        "estimate": {
            "backend": "hf",
            "flavor": "a100-large",
            "gpus": 1,
            "hours": 2.0,
            "gpu_hours": 2.0,
            "usd": 5.0,
            "summary": "HF Jobs a100-large",
            "flags": ["contamination: 3 benchmark items in train.jsonl"],
        },
    }
    text = "\n".join(describe(view, width=60))
    joined = "".join(text.split())
    for key, value in LONG_ENV.items():
        assert f'"{key}":"{value}"' in joined
    assert "backend hf · a100-large · 1 GPU · ≤2 h · 2 GPU-h · $5.00" in text
    assert "⚠ contamination" in text
    printed = format_event(Event("s", 3, 0.0, "approval_requested", 2, view))
    assert all(value in "".join(printed.split()) for value in LONG_ENV.values())
    assert cost_facts({}, {"usd": None, "gpu_hours": None}) == ["GPU-h ?", "$?"]
    decided = Event(
        "s", 4, 0.0, "approval_decided", 2,
        {"id": "ap-1", "tool": "launch_job", "decision": "edit", "status": "approved", "decided_by": "user",
         "edited": {"timeout": 1800, "args": {"max-steps": 30}}},
    )  # fmt: skip
    assert '"timeout": 1800' in format_event(decided)
