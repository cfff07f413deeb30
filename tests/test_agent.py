"""The supervised agent through the real smolagents loop, driven by script: policies."""

import json

import pytest
from helpers import wait_for, write_policy

from intern_tui.agent.approvals import Budget
from intern_tui.agent.session import SessionOptions, start_session
from intern_tui.cli import main
from intern_tui.store.queries import iter_events, session_detail


def events(rt, sid, kinds=None):
    rt.writer.flush()
    return list(iter_events(rt.store.connect(), sid, kinds=kinds))


def start(rt, tmp_path, turns, **kw):
    model = write_policy(tmp_path / "policy.jsonl", turns)
    return start_session(rt, SessionOptions(task=kw.pop("task", "test task"), model=model, **kw))


def user_texts(messages) -> list[str]:
    out = []
    for m in messages:
        content = m.content if isinstance(m.content, str) else " ".join(p.get("text", "") for p in m.content)
        out.append(f"{m.role}: {content}")
    return out


def test_scripted_run_end_to_end_through_the_cli(home, tmp_path, capsys):
    model = write_policy(
        tmp_path / "p.jsonl",
        [
            ("Write the training script.", "print(write_file('train.py', 'lr = 1e-4\\n'))"),
            ("Lower the learning rate.", "print(edit_file('train.py', '1e-4', '5e-5'))"),
            ("Done.", "final_answer('script ready at lr 5e-5')"),
        ],
    )
    assert main(["run", "--headless", "--json", "--model", model, "prepare a training script"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    kinds = [e["kind"] for e in lines]
    assert kinds[0] == "session_started" and kinds[-1] == "session_ended"
    assert [e["seq"] for e in lines] == list(range(1, len(lines) + 1))
    sid = lines[0]["session_id"]
    assert main(["sessions", "show", sid, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["status"] == "done" and shown["steps"] == 3
    assert shown["final_answer"] == "script ready at lr 5e-5"
    assert shown["files"] == [{**shown["files"][0], "path": "train.py", "versions": 2}]
    assert shown["event_count"] == len(lines)
    # the order inside a step: thought, code, tool call, file version, tool result, observation
    step2 = [e["kind"] for e in lines if e["step"] == 2]
    assert step2 == [
        "step_started",
        "model_call",
        "model_output",
        "token_usage",
        "code_action",
        "tool_call",
        "file_written",
        "tool_result",
        "observation",
    ]


def test_pause_stops_at_the_step_boundary_and_resume_continues(runtime, tmp_path, cp):
    sup = start(
        runtime,
        tmp_path,
        [
            ("Hold inside step 1.", "print(checkpoint('one'))"),
            ("Step 2.", "print('two')"),
            ("Done.", "final_answer('ok')"),
        ],
    )
    cp.wait_reached("one")
    sup.pause()
    assert sup.status == "pausing"
    cp.release("one")
    wait_for(lambda: sup.status == "paused")
    sid = sup.emitter.session_id
    model = sup.agent.model.inner
    assert model.position == 1  # no new model call while paused
    assert not [e for e in events(runtime, sid) if e.kind == "step_started" and e.step == 2]
    assert (
        runtime.store.connect().execute("SELECT status FROM sessions WHERE id=?", (sid,)).fetchone()[0]
        == "paused"
    )
    sup.resume()
    assert sup.wait(30) and sup.status == "done"
    phases = [(e.kind, e.payload.get("phase")) for e in events(runtime, sid, ["paused", "resumed"])]
    assert phases == [("paused", "requested"), ("paused", "paused"), ("resumed", "resumed")]


def test_redirect_reaches_the_model_before_its_next_step(runtime, tmp_path, cp):
    sup = start(
        runtime,
        tmp_path,
        [
            ("Hold.", "print(checkpoint('one'))"),
            ("Next.", "print('two')"),
            ("Done.", "final_answer('ok')"),
        ],
    )
    cp.wait_reached("one")
    sup.redirect("Use a learning rate of 1e-5 from now on.")
    cp.release("one")
    assert sup.wait(30)
    seen = sup.agent.model.inner.seen_messages
    first, second = user_texts(seen[0]), user_texts(seen[1])
    assert not any("1e-5" in t for t in first)
    # the instruction is the last message before the model's second call, after step 1's observation
    assert "1e-5" in second[-1] and "passed one" in " ".join(second[-3:-1])
    phases = [e.payload["phase"] for e in events(runtime, sup.emitter.session_id, ["redirected"])]
    assert phases == ["queued", "delivered"]


def test_redirect_while_paused_is_delivered_on_resume(runtime, tmp_path, cp):
    sup = start(runtime, tmp_path, [("Hold.", "print(checkpoint('one'))"), ("Done.", "final_answer('ok')")])
    cp.wait_reached("one")
    sup.pause()
    cp.release("one")
    wait_for(lambda: sup.status == "paused")
    sup.redirect("switch to DPO")
    sup.resume()
    assert sup.wait(30)
    assert "switch to DPO" in user_texts(sup.agent.model.inner.seen_messages[1])[-1]


def test_interrupt_during_a_step_stops_after_it_and_keeps_the_session(runtime, tmp_path, cp):
    sup = start(
        runtime,
        tmp_path,
        [
            ("Hold.", "print(checkpoint('one'))"),
            ("Never runs.", "print('two')"),
        ],
    )
    cp.wait_reached("one")
    sup.interrupt()
    cp.release("one")
    assert sup.wait(30) and sup.status == "interrupted"
    sid = sup.emitter.session_id
    assert sup.agent.model.inner.position == 1
    detail = session_detail(runtime.store.connect(), sid)
    assert detail["status"] == "interrupted" and detail["steps"] == 1


def test_interrupt_while_awaiting_approval_records_an_interrupted_result(runtime, tmp_path, cp):
    sup = start(runtime, tmp_path, [("Spend.", "print(spend(5))"), ("Never.", "print('x')")])
    wait_for(lambda: sup.approvals.pending())
    sup.interrupt()
    assert sup.wait(30) and sup.status == "interrupted"
    sid = sup.emitter.session_id
    results = events(runtime, sid, ["tool_result"])
    assert results[-1].payload["tool"] == "spend" and results[-1].payload["error_kind"] == "Interrupted"
    assert ("spend", 5) not in cp.calls
    calls = {e.payload["call_id"] for e in events(runtime, sid, ["tool_call"])}
    assert calls == {e.payload["call_id"] for e in results}  # no dangling call
    approvals = session_detail(runtime.store.connect(), sid)["approvals"]
    assert [(a["tool"], a["status"], a["decided_by"]) for a in approvals] == [
        ("spend", "denied", "interrupt")
    ]


def test_approve_always_deny_with_reason_and_edit_from_another_thread(runtime, tmp_path, cp):
    sup = start(
        runtime,
        tmp_path,
        [
            ("Approve me.", "print(spend(1))"),
            ("Deny me.", "print(spend(2))"),
            ("Edit me.", "print(spend(3))"),
            ("Always.", "print(spend(4))"),
            ("Auto now.", "print(spend(5))"),
            ("Done.", "final_answer('spent')"),
        ],
    )
    for decision, reason, edited in [
        ("approve", None, None),
        ("deny", "too expensive for a smoke test", None),
        ("edit", None, {"amount": 30}),
        ("always", None, None),
    ]:
        request = wait_for(lambda: sup.approvals.pending())[0]
        assert sup.decide(request.id, decision, reason, edited)
    assert sup.wait(30) and sup.status == "done"
    assert [c for c in cp.calls if c[0] == "spend"] == [
        ("spend", 1),
        ("spend", 30),
        ("spend", 4),
        ("spend", 5),
    ]
    sid = sup.emitter.session_id
    observations = {e.step: e.payload for e in events(runtime, sid, ["observation"])}
    assert "too expensive for a smoke test" in observations[2]["error"]
    assert "30" in observations[3]["text"]
    approvals = session_detail(runtime.store.connect(), sid)["approvals"]
    assert [(a["decision"], a["status"], a["decided_by"]) for a in approvals] == [
        ("approve", "approved", "user"),
        ("deny", "denied", "user"),
        ("edit", "approved", "user"),
        ("always", "approved", "user"),
        ("auto", "approved", "always"),
    ]
    assert approvals[2]["edited"] == {"amount": 30}


@pytest.mark.parametrize("policy,expected", [("none", "denied"), ("all", "approved")])
def test_headless_policies(runtime, tmp_path, cp, policy, expected):
    sup = start(
        runtime, tmp_path, [("Spend.", "print(spend(2))"), ("Done.", "final_answer('x')")], approve=policy
    )
    assert sup.wait(30)
    approvals = session_detail(runtime.store.connect(), sup.emitter.session_id)["approvals"]
    assert [(a["status"], a["decided_by"]) for a in approvals] == [(expected, "policy")]
    assert (("spend", 2) in cp.calls) == (expected == "approved")


def test_budget_caps_auto_approval(runtime, tmp_path, cp):
    sup = start(
        runtime,
        tmp_path,
        [("Cheap.", "print(spend(2))"), ("Too much.", "print(spend(5))"), ("Done.", "final_answer('x')")],
        approve="all",
        budget=Budget(usd=4),
    )
    assert sup.wait(30)
    approvals = session_detail(runtime.store.connect(), sup.emitter.session_id)["approvals"]
    assert [(a["status"], a["decided_by"]) for a in approvals] == [
        ("approved", "policy"),
        ("denied", "budget"),
    ]
    assert "budget" in approvals[1]["reason"]
    assert cp.calls == [("spend", 2)]


def test_doom_loop_is_detected_and_corrected(runtime, tmp_path):
    same = ("Check again.", "print(len('same'))")
    sup = start(runtime, tmp_path, [same, same, same, ("Change approach.", "final_answer('changed')")])
    assert sup.wait(30)
    loops = events(runtime, sup.emitter.session_id, ["doom_loop"])
    assert len(loops) == 1 and loops[0].step == 3 and "same result 3 times" in loops[0].payload["reason"]
    assert "stuck in a loop" in user_texts(sup.agent.model.inner.seen_messages[3])[-1]


def test_context_is_compacted_near_the_window(runtime, tmp_path):
    turns = [(f"Step {i} reads a lot.", f"print('x' * 4000 + ' {i}')") for i in range(1, 11)]
    sup = start(runtime, tmp_path, turns + [("Done.", "final_answer('ok')")], context_window=16000)
    assert sup.wait(60)
    compactions = events(runtime, sup.emitter.session_id, ["compacted"])
    assert compactions, "no compaction happened"
    first = compactions[0].payload
    assert first["tokens_after"] < first["tokens_before"] and first["folded_steps"] >= 1
    last_call = user_texts(sup.agent.model.inner.seen_messages[-1])
    assert any("Context was compacted" in t for t in last_call)
    assert len(sup.agent.model.inner.seen_messages[-1]) < 2 * 11  # older steps really left the prompt


def test_polling_inside_a_step_is_not_a_doom_loop(runtime, tmp_path):
    poll = "n = 0\nwhile n < 10:\n    read_file('x.txt')\n    n += 1\nprint(n)"
    sup = start(
        runtime,
        tmp_path,
        [
            ("Write.", "print(write_file('x.txt', 'same'))"),
            ("Poll.", poll),
            ("Different.", "print(read_file('x.txt') + '!')"),
            ("Poll again.", poll),
            ("Done.", "final_answer('ok')"),
        ],
    )
    assert sup.wait(30)
    assert not events(runtime, sup.emitter.session_id, ["doom_loop"])


def test_the_same_tool_result_every_step_is_a_doom_loop(runtime, tmp_path):
    turns = [("Write.", "print(write_file('x.txt', 'same'))")]
    turns += [(f"Check {i}.", f"r = read_file('x.txt')\nprint({i})") for i in range(4)]
    sup = start(runtime, tmp_path, turns + [("Done.", "final_answer('ok')")])
    assert sup.wait(30)
    loops = events(runtime, sup.emitter.session_id, ["doom_loop"])
    assert (
        loops
        and "read_file returned the same result in each of the last 4 steps" in loops[0].payload["reason"]
    )


@pytest.mark.parametrize(
    "code",
    [
        "import time\ntime.sleep(120)",
        "from time import sleep as nap\nnap(120)",
        "import time as t\nt.sleep(120)",
        "n = 0\nwhile True:\n    n += 1",  # busy, not sleeping
    ],
)
def test_interrupt_stops_the_running_code_and_keeps_the_worker(runtime, tmp_path, code):
    # list_files() first: once its result is recorded the worker is inside the code, about to block
    sup = start(
        runtime, tmp_path, [("Wait a long time.", "list_files()\n" + code), ("Never.", "print('no')")]
    )
    wait_for(lambda: events(runtime, sup.emitter.session_id, ["tool_result"]))
    sup.interrupt()
    assert sup.wait(20) and sup.status == "interrupted"
    obs = events(runtime, sup.emitter.session_id, ["observation"])
    assert "interrupted by the user" in obs[-1].payload["error"]
    # the code stopped inside the worker: it was not killed, so the agent's variables survive
    phases = [e.payload["phase"] for e in events(runtime, sup.emitter.session_id, ["sandbox"])]
    assert phases == ["started"]


def test_sleep_still_sleeps_when_nobody_interrupts(runtime, tmp_path):
    sup = start(
        runtime,
        tmp_path,
        [
            ("Nap.", "import time\nt0 = time.time()\ntime.sleep(0.2)\nprint(time.time() - t0 >= 0.19)"),
            ("Done.", "final_answer('x')"),
        ],
    )
    assert sup.wait(30)
    assert "True" in events(runtime, sup.emitter.session_id, ["observation"])[0].payload["text"]


def test_unknown_cost_is_never_auto_approved_under_a_budget():
    budget = Budget(usd=5)
    assert budget.allows({"usd": 2.0})[0]
    ok, why = budget.allows({"usd": None, "gpu_hours": None, "summary": "HF Jobs, unknown flavor 'h100x8'"})
    assert not ok and "unknown" in why and "h100x8" in why
    assert not budget.allows({"error": "boom"})[0]
    assert Budget().allows({"usd": None})[0]  # no budget set: nothing to protect
    budget.charge({"usd": 2.0})
    budget.recharge({"usd": 2.0}, {"usd": 4.5})
    assert budget.spent_usd == 4.5 and not budget.allows({"usd": 1.0})[0]


def test_an_alert_reaches_the_agent_and_can_pause_it(runtime, tmp_path, cp):
    sup = start(
        runtime,
        tmp_path,
        [("Hold.", "print(checkpoint('one'))"), ("Next.", "final_answer('x')")],
        pause_on_alert=True,
    )
    cp.wait_reached("one")
    sup.notify_alert(
        {
            "job_id": "job-1",
            "kind": "reward_collapse",
            "severity": "critical",
            "message": "reward std is 0 on 5 logging steps: lower beta or add reward variance",
        }
    )
    cp.release("one")
    wait_for(lambda: sup.status == "paused")  # paused at the boundary, before the next model call
    assert sup.agent.model.inner.position == 1
    sup.resume()
    assert sup.wait(30)
    second_call = user_texts(sup.agent.model.inner.seen_messages[1])
    assert any("Alert from the job monitor: reward std is 0" in t for t in second_call)
    delivered = [e for e in events(runtime, sup.emitter.session_id, ["alert"]) if e.payload.get("delivered")]
    assert len(delivered) == 1


def test_a_billing_alert_pauses_the_agent_even_without_pause_on_alert(runtime, tmp_path, cp):
    sup = start(runtime, tmp_path, [("Hold.", "print(checkpoint('one'))"), ("Next.", "final_answer('x')")])
    cp.wait_reached("one")
    message = "cannot start the HF job: Hugging Face refused to bill namespace 'lab' (402 …): ask the human"
    sup.notify_alert({"job_id": "job-1", "kind": "billing", "severity": "critical", "message": message,
                      "pause": True})  # fmt: skip
    cp.release("one")
    wait_for(lambda: sup.status == "paused")  # a human decides what to spend
    assert sup.agent.model.inner.position == 1
    sup.resume()
    assert sup.wait(30)
    assert any("refused to bill" in t for t in user_texts(sup.agent.model.inner.seen_messages[1]))
