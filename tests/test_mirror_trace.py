"""The trace export, validated against real Claude Code traces (the format the HF trace viewer detects)."""

import io
import json
import re
from datetime import datetime

import pytest
from helpers import running_store
from mirror_fakes import emit_session

from intern_tui.bus import Emitter
from intern_tui.mirror import export_trace
from intern_tui.mirror.trace import build_trace, trace_events

FIXTURES = ["claude_code_session_coverage_test_fix.jsonl", "claude_code_subagent_sidechain_spotter.jsonl"]
# The minimum the viewer's auto-detector needs (TRACE_FORMATS.md), checked against the fixtures below.
MIN_KEYS = {"type", "message", "uuid", "parentUuid", "sessionId", "timestamp"}
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def _fixture_messages(fixtures_dir):
    out = []
    for name in FIXTURES:
        for line in (fixtures_dir / name).read_text().splitlines():
            record = json.loads(line)
            if record.get("type") in ("user", "assistant"):
                out.append(record)
    return out


def _block_key_sets(records):
    """Per content block type: (keys every block has, keys any block has)."""
    seen: dict[str, list[set]] = {}
    for r in records:
        content = r["message"]["content"]
        if isinstance(content, list):
            for block in content:
                seen.setdefault(block["type"], []).append(set(block))
    return {kind: (set.intersection(*sets), set.union(*sets)) for kind, sets in seen.items()}


def check_record(record):
    """The per-record shape of a Claude Code user/assistant line."""
    assert MIN_KEYS <= set(record), set(record)
    assert record["type"] in ("user", "assistant")
    assert record["message"]["role"] == record["type"]
    content = record["message"]["content"]
    assert isinstance(content, str) or (isinstance(content, list) and content)
    if isinstance(content, list):
        for block in content:
            assert block["type"] in ("text", "tool_use", "tool_result", "thinking", "image")
    assert isinstance(record["sessionId"], str) and record["sessionId"]
    assert isinstance(record["uuid"], str) and record["uuid"]
    assert record["parentUuid"] is None or isinstance(record["parentUuid"], str)
    assert ISO.match(record["timestamp"]), record["timestamp"]
    datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00"))


def check_chain(records):
    assert records[0]["parentUuid"] is None
    for prev, cur in zip(records, records[1:], strict=False):
        assert cur["parentUuid"] == prev["uuid"]
    assert len({r["uuid"] for r in records}) == len(records)
    tool_uses: set[str] = set()
    for r in records:
        content = r["message"]["content"]
        for block in content if isinstance(content, list) else []:
            if block["type"] == "tool_use":
                assert r["type"] == "assistant" and block["id"] not in tool_uses
                tool_uses.add(block["id"])
            if block["type"] == "tool_result":
                assert r["type"] == "user"
                assert block["tool_use_id"] in tool_uses, "tool_result without an earlier tool_use"


def _trace(home, steps=2, end=True):
    with running_store(home) as (store, bus, writer):
        emit_session(Emitter(bus, "sess-trace"), steps=steps, end=end)
        writer.flush()
        conn = store.connect()
        out = io.StringIO()
        count = export_trace(conn, "sess-trace", out)
        lines = out.getvalue().splitlines()
        assert count == len(lines)
        return [json.loads(line) for line in lines], store


def test_fixture_records_pass_the_same_checks(fixtures_dir):
    """The checks below are fair: real Claude Code records pass them."""
    records = _fixture_messages(fixtures_dir)
    assert len(records) > 40
    for r in records:
        check_record(r)
        assert MIN_KEYS <= set(r)
    assert sum(r["parentUuid"] is None for r in records) == len(FIXTURES)


def test_trace_has_the_shape_of_real_claude_code_records(home, fixtures_dir):
    records, _ = _trace(home)
    for r in records:
        check_record(r)
    check_chain(records)
    real = _block_key_sets(_fixture_messages(fixtures_dir))
    ours = _block_key_sets(records)
    assert set(ours) == {"text", "tool_use", "tool_result"}
    for kind, (must, _) in ours.items():
        real_must, real_any = real[kind]
        assert real_must <= must, f"{kind} blocks lack keys every real one has: {real_must - must}"
        assert must <= real_any | {"is_error"}, f"{kind} blocks carry keys real ones never do"
    # assistant records name the model, as Claude Code does
    assert {r["message"]["model"] for r in records if r["type"] == "assistant"} == {"script:demo.jsonl"}


def test_events_map_to_sensible_records(home):
    records, _ = _trace(home)
    texts = [
        (r["type"], r["message"]["content"] if isinstance(r["message"]["content"], str) else None)
        for r in records
    ]
    # the task opens the chain as the user's prompt
    assert texts[0] == ("user", "fine-tune a tiny model")
    blocks = [
        (r["type"], b)
        for r in records
        if isinstance(r["message"]["content"], list)
        for b in r["message"]["content"]
    ]
    thoughts = [b["text"] for t, b in blocks if b["type"] == "text"]
    assert thoughts[:2] == ["step 1", "step 2"] and thoughts[-1] == "Final answer: trained"
    uses = [b for t, b in blocks if b["type"] == "tool_use"]
    assert [u["name"] for u in uses] == ["python", "launch_job", "python", "launch_job", "python"]
    assert uses[0]["input"] == {"code": "job = launch_job(script='train_1.py')"}
    assert uses[1]["input"] == {"script": "train_1.py"}
    results = {b["tool_use_id"]: b["content"] for t, b in blocks if b["type"] == "tool_result"}
    assert results[uses[0]["id"]] == "j1" and results[uses[1]["id"]] == "j1"
    assert results[uses[-1]["id"]] == "trained"
    meta = [r["message"]["content"] for r in records if r.get("isMeta")]
    assert any(m.startswith("[approval requested] launch_job") for m in meta)
    assert any(m == "[approval] launch_job approved by user" for m in meta)
    assert any("loss jumped" in m and "warning" in m for m in meta)
    assert meta[-1] == "[session ended: done]"
    # a redirect shows once (when delivered); logs and GPU samples are not part of the conversation
    assert [t for t in texts if t[1] == "use a smaller learning rate"] == [
        ("user", "use a smaller learning rate")
    ]
    assert not any("loss': 1.23" in json.dumps(r) for r in records)


def test_failed_step_is_an_error_result_and_unparsed_step_a_note(home):
    with running_store(home) as (store, bus, writer):
        em = Emitter(bus, "s")
        em.emit("session_started", {"task": "t", "model": "m"})
        em.emit("task", {"task": "t"})
        em.emit("code_action", {"code": "1/0", "call_id": "c1"}, step=1)
        em.emit("observation", {"text": "", "error": "ZeroDivisionError: division by zero"}, step=1)
        em.emit("observation", {"text": "", "error": "could not parse the code block"}, step=2)
        em.emit("tool_result", {"call_id": "orphan", "tool": "read_file", "error": "no such file"}, step=2)
        writer.flush()
        out = io.StringIO()
        export_trace(store.connect(), "s", out)
    records = [json.loads(x) for x in out.getvalue().splitlines()]
    check_chain(records)
    result = records[2]["message"]["content"][0]
    assert result["type"] == "tool_result" and result["is_error"] is True
    assert "ZeroDivisionError" in result["content"]
    assert records[3]["message"]["content"] == "[step error] Error: could not parse the code block"
    assert records[4]["message"]["content"].startswith("[read_file result] Error: no such file")


def test_trace_of_a_prefix_is_a_prefix_of_the_trace(home):
    """uuids come from (session, seq): regenerating after more events never rewrites earlier records."""
    records, store = _trace(home)
    conn = store.connect()
    half = conn.execute("SELECT max(seq) FROM events WHERE session_id='sess-trace'").fetchone()[0] // 2
    partial = list(
        build_trace(trace_events(conn, "sess-trace", upto_seq=half), "sess-trace", "script:demo.jsonl")
    )
    assert 0 < len(partial) < len(records)
    assert partial == records[: len(partial)]


@pytest.mark.parametrize("end", [True, False])
def test_unfinished_session_still_exports_a_valid_trace(home, end):
    records, _ = _trace(home, steps=1, end=end)
    check_chain(records)
    assert (records[-1]["message"]["content"] == "[session ended: done]") is end
