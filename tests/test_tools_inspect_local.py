"""inspect_dataset on local files: formats, planted quality problems, trainer fit, confinement."""

from __future__ import annotations

import csv
import json
import os

import pytest
from research_fakes import Session

from intern_tui.tools.base import ToolError


@pytest.fixture
def s(tmp_path) -> Session:
    return Session(tmp_path / "ws")  # no transport routes: local inspection must never touch the network


def write_jsonl(s: Session, rel: str, rows: list) -> None:
    path = s.ctx.workspace / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def chat(q: str, a: str) -> dict:
    return {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}


def test_jsonl_with_planted_duplicates_and_empties(s):
    rows = [chat(f"question {i}?", "x" * (10 + i)) for i in range(20)]
    rows[5] = rows[2]  # duplicate
    rows[9] = rows[2]  # another duplicate of the same row
    rows[12] = {"messages": []}  # empty conversation
    rows[15] = {
        "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "   "}]
    }  # blank reply
    write_jsonl(s, "data/train.jsonl", rows)
    out = s.call("inspect_dataset", "local:data/train.jsonl", n=2)
    assert out["rows"] == 20 and out["format"] == "jsonl"
    q = out["quality"]
    assert q["duplicate_rows"] == 2 and q["duplicate_examples"] == [
        "row 5 repeats row 2",
        "row 9 repeats row 2",
    ]
    assert q["empty_rows"] == 1 and q["empty_row_indices"] == [12]
    lengths = q["lengths_chars"]["messages"]
    assert lengths["max"] == len("question 19?") + 1 + 29
    assert lengths["min"] == len("hi\n   ")  # the blank reply; the empty conversation has no text to measure
    assert out["columns"] == {"messages": "messages"}
    assert set(lengths) == {"min", "median", "p95", "max"}
    assert out["fits"] == ["SFT"] and out["trainers"]["sft"]["as"] == "conversational: messages"
    assert (
        out["trainers"]["grpo"]["fits"] is False
        and "without) the last assistant turn" in out["trainers"]["grpo"]["convert"]
    )
    assert out["trainers"]["dpo"]["fits"] is False and "preference pairs" in out["trainers"]["dpo"]["convert"]
    issues = " | ".join(out["issues"])
    assert "2 duplicate rows" in issues and "1 empty rows" in issues
    assert "conversations do not end with an assistant turn" not in issues
    assert out["sample"][0]["messages"][0] == {"role": "user", "content": "question 0?"}
    assert s.kinds() == ["tool_call", "tool_result"]


def test_conversation_shape_problems(s):
    rows = [
        chat("q", "a"),
        {"messages": [{"role": "user", "content": "only a question"}]},
        {"messages": [{"role": "human", "content": "hi"}, {"role": "assistant", "content": "yo"}]},
    ]
    write_jsonl(s, "c.jsonl", rows)
    out = s.call("inspect_dataset", "local:c.jsonl")
    problems = out["trainers"]["sft"]["problems"]
    assert "1 rows have unknown roles" in problems[0]
    assert "1 conversations do not end with an assistant turn" in problems[1]
    assert any(i.startswith("SFT: 1 conversations") for i in out["issues"])


def test_csv_prompt_completion(s):
    path = s.ctx.workspace / "pc.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["prompt", "completion"])
        w.writerows([["2+2=", "4"], ["3+3=", "6"], ["2+2=", "4"], ["", ""], ["5+5=", ""]])
    out = s.call("inspect_dataset", "local:pc.csv")
    assert out["rows"] == 5 and out["format"] == "csv"
    assert out["quality"]["duplicate_rows"] == 1 and out["quality"]["empty_rows"] == 1
    assert out["quality"]["empty_cells"] == {"prompt": 1, "completion": 2}
    assert "column 'completion' is empty in 2 of 5 rows" in out["issues"]
    assert out["trainers"]["sft"] == {"fits": True, "as": "prompt-completion"}
    assert out["trainers"]["grpo"]["fits"] is True and out["fits"] == ["SFT", "GRPO"]


def test_parquet_preference_pairs(s):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = {
        "prompt": ["Say hi", "Add 2+2", "Name a color", "Say hi"],
        "chosen": ["Hi!", "4", "Blue", "Hi!"],
        "rejected": ["Go away", "5", "Blue", "Go away"],
    }
    (s.ctx.workspace / "prefs").mkdir(parents=True)
    pq.write_table(pa.table(rows), s.ctx.workspace / "prefs" / "train-00000-of-00001.parquet")
    pq.write_table(
        pa.table({k: v[:1] for k, v in rows.items()}),
        s.ctx.workspace / "prefs" / "test-00000-of-00001.parquet",
    )
    out = s.call("inspect_dataset", "local:prefs", split="train")
    assert out["rows"] == 4 and out["format"] == "parquet" and out["splits"] == {"test": None, "train": None}
    assert out["features"] == {"prompt": "string", "chosen": "string", "rejected": "string"}
    dpo = out["trainers"]["dpo"]
    assert dpo["fits"] is True and dpo["as"] == "preference: prompt, chosen, rejected"
    assert dpo["problems"] == ["1 rows have chosen == rejected (no preference signal)"]
    assert out["quality"]["duplicate_rows"] == 1
    assert out["fits"] == ["DPO", "GRPO"]
    test = s.call("inspect_dataset", "local:prefs", split="test")
    assert test["rows"] == 1
    with pytest.raises(ToolError, match=r"no 'validation' split in 'prefs'; splits found: test, train"):
        s.call("inspect_dataset", "local:prefs", split="validation")


def test_conversational_dpo_with_implicit_prompt(s):
    rows = [
        {
            "chosen": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
            "rejected": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "go away"}],
        }
    ]
    write_jsonl(s, "d.jsonl", rows)
    out = s.call("inspect_dataset", "local:d.jsonl")
    assert out["trainers"]["dpo"] == {
        "fits": True,
        "as": "preference with implicit prompt (prompt inside chosen/rejected)",
    }
    assert out["fits"] == ["DPO"]


def test_grpo_prompt_with_reward_columns_in_a_json_array(s):
    rows = [
        {"prompt": [{"role": "user", "content": f"What is {i}+{i}?"}], "answer": str(2 * i)} for i in range(5)
    ]
    path = s.ctx.workspace / "g.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows), encoding="utf-8")
    out = s.call("inspect_dataset", "local:g.json")
    grpo = out["trainers"]["grpo"]
    assert grpo == {
        "fits": True,
        "as": "prompt-only (conversational)",
        "note": "other columns (answer) reach reward functions as keyword arguments",
    }
    assert out["trainers"]["sft"]["fits"] is False


def test_text_only_language_modeling(s):
    write_jsonl(s, "t.jsonl", [{"text": "The cat sat."}, {"text": "A dog ran."}])
    out = s.call("inspect_dataset", "local:t.jsonl")
    assert out["fits"] == ["SFT"] and out["trainers"]["sft"]["as"] == "language modeling: text"
    assert "needs a 'prompt' column" in out["trainers"]["grpo"]["convert"]


@pytest.mark.parametrize(
    ("row", "sft", "grpo"),
    [
        (
            {"instruction": "Translate", "input": "chat", "output": "cat"},
            "prompt = instruction + '\\n\\n' + input",
            "rename 'instruction' to 'prompt'",
        ),
        (
            {"question": "2+2?", "answer": "4"},
            "prompt = question, completion = answer",
            "rename 'question' to 'prompt'",
        ),
        (
            {"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hey"}]},
            "ShareGPT format: rename 'conversations' to 'messages'",
            "convert ShareGPT turns to messages",
        ),
    ],
)
def test_conversions_are_suggested_when_nothing_fits(s, row, sft, grpo):
    write_jsonl(s, "x.jsonl", [row, row | {}])
    out = s.call("inspect_dataset", "local:x.jsonl")
    assert out["trainers"]["sft"]["fits"] is False and sft in out["trainers"]["sft"]["convert"]
    assert grpo in out["trainers"]["grpo"]["convert"]
    assert out["fits"] == [] and "no trainer takes these columns" in out["issues"][0]


def test_bad_lines_and_mixed_types_are_reported(s):
    path = s.ctx.workspace / "m.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"text": "ok"}\nnot json\n[1, 2]\n{"text": 5}\n\n{"text": "fine"}\n', encoding="utf-8")
    out = s.call("inspect_dataset", "local:m.jsonl")
    assert out["rows"] == 3
    assert out["notes"] == ["2 lines are not JSON objects and were skipped (first: line 2)"]
    assert out["columns"]["text"] == "text|number"
    assert "column 'text' mixes types: text|number" in out["issues"]


def test_long_cells_are_cut_in_the_sample(s):
    write_jsonl(s, "long.jsonl", [{"text": "word " * 2000}])
    out = s.call("inspect_dataset", "local:long.jsonl", n=1)
    assert out["sample"][0]["text"].endswith("[+9,700 chars]")
    assert out["quality"]["lengths_chars"]["text"]["max"] == 10000


def test_confinement(s, tmp_path):
    (tmp_path / "secret.jsonl").write_text('{"text": "outside"}\n')
    s.ctx.workspace.mkdir(parents=True, exist_ok=True)
    os.symlink(tmp_path / "secret.jsonl", s.ctx.workspace / "link.jsonl")
    for bad, message in [
        ("local:../secret.jsonl", "leaves the workspace"),
        (f"local:{tmp_path / 'secret.jsonl'}", "is absolute"),
        ("local:link.jsonl", "symlink"),
        ("local:missing.jsonl", "no file or folder 'missing.jsonl'"),
    ]:
        with pytest.raises(ToolError, match=message):
            s.call("inspect_dataset", bad)
    errors = [e.payload["error"] for e in s.drain() if e.kind == "tool_result"]
    assert len(errors) == 4 and not any("outside" in e for e in errors)


def test_unsupported_and_empty_files(s):
    (s.ctx.workspace / "notes.txt").parent.mkdir(parents=True, exist_ok=True)
    (s.ctx.workspace / "notes.txt").write_text("hello")
    with pytest.raises(ToolError, match="is not a data file"):
        s.call("inspect_dataset", "local:notes.txt")
    (s.ctx.workspace / "empty.jsonl").write_text("")
    out = s.call("inspect_dataset", "local:empty.jsonl")
    assert out["rows"] == 0 and out["issues"][0] == "no rows to check" and out["fits"] == []


def test_csv_cells_longer_than_the_default_csv_limit(s):
    path = s.ctx.workspace / "big.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("text\n" + '"' + "a" * 200_000 + '"\n', encoding="utf-8")
    out = s.call("inspect_dataset", "local:big.csv", n=0)
    assert out["quality"]["lengths_chars"]["text"]["max"] == 200_000 and out["fits"] == ["SFT"]
