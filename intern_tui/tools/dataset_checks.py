"""What a post-training engineer checks in a dataset before training on it, as pure functions over rows.

- column kinds (text, conversation, number, …) and mixed-type columns;
- quality: empty rows and cells, duplicate rows, length distribution in characters;
- trainer fit, following TRL's dataset formats: SFT takes `messages` (list of {role, content}), `text`, or
  `prompt` + `completion`; DPO takes `prompt` + `chosen` + `rejected` (or chosen/rejected with the prompt
  inside them); GRPO takes `prompt`. When nothing fits, say which conversion would make it fit.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from typing import Any

ROLES = {"system", "user", "assistant", "tool", "developer", "function", "ipython"}
SAMPLE_CELL_CHARS = 300
SAMPLE_MESSAGE_CHARS = 200


# -- cells ----------------------------------------------------------------------------------------


def is_message_list(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(m, dict) and "role" in m and "content" in m for m in value)
    )


def is_sharegpt_list(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(m, dict) and "from" in m and "value" in m for m in value)
    )


def cell_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "text"
    if is_message_list(value):
        return "messages"
    if is_sharegpt_list(value):
        return "sharegpt"
    if isinstance(value, dict) and ("src" in value or "bytes" in value or "path" in value):
        return "image"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "dict"
    return type(value).__name__


def text_of(value: Any) -> str:
    """All the text a cell carries (message contents joined), for lengths and emptiness."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if "content" in value:
            return text_of(value["content"])
        if "value" in value:
            return text_of(value["value"])
        if "text" in value:
            return text_of(value["text"])
        return ""
    if isinstance(value, list):
        return "\n".join(t for t in (text_of(v) for v in value) if t)
    return ""


def is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | dict):
        return not value or (cell_kind(value) in ("messages", "sharegpt") and not text_of(value).strip())
    return False


def truncate_cell(value: Any, limit: int = SAMPLE_CELL_CHARS) -> Any:
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + f"… [+{len(value) - limit:,} chars]"
    if cell_kind(value) == "image":
        size = f" {value.get('width')}x{value.get('height')}" if value.get("width") else ""
        return f"<image{size}>"
    if is_message_list(value):
        shown = [
            {"role": m.get("role"), "content": truncate_cell(m.get("content"), SAMPLE_MESSAGE_CHARS)}
            for m in value[:6]
        ]
        return shown + ([f"… (+{len(value) - 6} messages)"] if len(value) > 6 else [])
    if isinstance(value, list):
        return [truncate_cell(v, limit // 2) for v in value[:5]] + (
            [f"… (+{len(value) - 5} items)"] if len(value) > 5 else []
        )
    if isinstance(value, dict):
        return {k: truncate_cell(v, limit // 2) for k, v in list(value.items())[:10]}
    return value


# -- columns and quality -----------------------------------------------------------------------------


def column_kinds(rows: list[dict[str, Any]]) -> dict[str, str]:
    """Each column's kind; 'text|null' style when a column mixes kinds (nulls included)."""
    seen: dict[str, Counter] = {}
    for row in rows:
        for key, value in row.items():
            counter = seen.setdefault(key, Counter())
            if isinstance(value, list | dict) and not value:
                continue  # an empty list says nothing about the column's type (it is counted as empty)
            counter[cell_kind(value)] += 1
    kinds = {}
    for key, counter in seen.items():
        missing = sum(1 for row in rows if key not in row)
        if missing:
            counter["missing"] += missing
        kinds[key] = "|".join(k for k, _ in counter.most_common()) or "empty"
    return kinds


def length_stats(values: list[int]) -> dict[str, int] | None:
    if not values:
        return None
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return {"min": ordered[0], "median": int(statistics.median(ordered)), "p95": p95, "max": ordered[-1]}


def quality(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Empty rows/cells, duplicate rows and character-length distributions."""
    empty_rows: list[int] = []
    empty_cells: Counter = Counter()
    first_seen: dict[str, int] = {}
    duplicates: list[tuple[int, int]] = []
    row_lengths: list[int] = []
    col_lengths: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        cells = list(row.values())
        if not cells or all(is_empty(v) for v in cells):
            empty_rows.append(i)
        for key, value in row.items():
            if is_empty(value):
                empty_cells[key] += 1
            if isinstance(value, str) or cell_kind(value) in ("messages", "sharegpt"):
                col_lengths.setdefault(key, []).append(len(text_of(value)))
        row_lengths.append(sum(len(text_of(v)) for v in cells))
        key = json.dumps(row, sort_keys=True, ensure_ascii=False, default=str)
        if key in first_seen:
            duplicates.append((i, first_seen[key]))
        else:
            first_seen[key] = i
    lengths = {"row": length_stats(row_lengths)}
    for key, values in list(col_lengths.items())[:8]:
        lengths[key] = length_stats(values)
    return {
        "empty_rows": len(empty_rows),
        "empty_row_indices": empty_rows[:10],
        "empty_cells": {k: v for k, v in empty_cells.items() if v},
        "duplicate_rows": len(duplicates),
        "duplicate_examples": [f"row {i} repeats row {j}" for i, j in duplicates[:5]],
        "lengths_chars": lengths,
    }


# -- trainer fit -----------------------------------------------------------------------------------


def _kind(kinds: dict[str, str], col: str) -> str | None:
    k = kinds.get(col)
    return k.split("|")[0] if k else None


def trainer_fit(kinds: dict[str, str], rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Which TRL trainers can take these columns as they are, and what to convert otherwise."""
    cols = set(kinds)
    k = {c: _kind(kinds, c) for c in cols}
    conv = lambda c: k.get(c) == "messages"  # noqa: E731
    text = lambda c: k.get(c) == "text"  # noqa: E731
    textual = lambda c: conv(c) or text(c)  # noqa: E731

    sft: dict[str, Any]
    if conv("messages"):
        sft = {"fits": True, "as": "conversational: messages"}
    elif text("text"):
        sft = {"fits": True, "as": "language modeling: text"}
    elif textual("prompt") and textual("completion"):
        sft = {"fits": True, "as": "prompt-completion" + (" (conversational)" if conv("prompt") else "")}
    else:
        sft = {"fits": False, "convert": _sft_conversion(cols, k)}

    if textual("chosen") and textual("rejected"):
        if textual("prompt"):
            dpo = {
                "fits": True,
                "as": "preference: prompt, chosen, rejected"
                + (" (conversational)" if conv("chosen") else ""),
            }
        else:
            dpo = {"fits": True, "as": "preference with implicit prompt (prompt inside chosen/rejected)"}
    else:
        dpo = {"fits": False, "convert": _dpo_conversion(cols, k)}

    if textual("prompt"):
        grpo = {"fits": True, "as": "prompt-only" + (" (conversational)" if conv("prompt") else "")}
        extra = sorted(cols - {"prompt", "completion", "chosen", "rejected"})
        if extra:
            grpo["note"] = (
                f"other columns ({', '.join(extra[:5])}) reach reward functions as keyword arguments"
            )
    else:
        grpo = {"fits": False, "convert": _grpo_conversion(cols, k)}

    fit = {"sft": sft, "dpo": dpo, "grpo": grpo}
    _shape_problems(fit, k, rows)
    return fit


_PAIRS = [
    ("instruction", "output"),
    ("question", "answer"),
    ("problem", "solution"),
    ("query", "response"),
    ("input", "output"),
    ("prompt", "response"),
    ("context", "response"),
    ("question", "response"),
]


def _pair(cols: set[str]) -> tuple[str, str] | None:
    for a, b in _PAIRS:
        if a in cols and b in cols:
            return a, b
    return None


def _sft_conversion(cols: set[str], k: dict[str, str | None]) -> str:
    if k.get("conversations") == "sharegpt" or any(v == "sharegpt" for v in k.values()):
        col = next(c for c, v in k.items() if v == "sharegpt")
        return (
            f"ShareGPT format: rename {col!r} to 'messages' and map from/value to role/content "
            "(human→user, gpt→assistant, system→system)"
        )
    if "messages" in cols and k.get("messages") != "messages":
        return f"'messages' holds {k.get('messages')}, not a list of {{role, content}}: parse or rebuild it"
    pair = _pair(cols)
    if pair:
        extra = " + '\\n\\n' + input (when non-empty)" if pair[0] == "instruction" and "input" in cols else ""
        return f"map prompt = {pair[0]}{extra}, completion = {pair[1]} (or build messages: user={pair[0]}, assistant={pair[1]})"
    texts = [c for c, v in k.items() if v == "text"]
    if len(texts) == 1:
        return f"rename {texts[0]!r} to 'text' for language modeling"
    return "needs 'messages' (list of {role, content}), 'text', or 'prompt' + 'completion' columns"


def _dpo_conversion(cols: set[str], k: dict[str, str | None]) -> str:
    if {"chosen", "rejected"} & cols:
        return "'chosen' and 'rejected' must both be text or conversations"
    for a, b in (
        ("response_a", "response_b"),
        ("response_0", "response_1"),
        ("completion_a", "completion_b"),
    ):
        if a in cols and b in cols:
            return f"map the preferred of {a}/{b} to 'chosen' and the other to 'rejected' (using the preference label)"
    return (
        "needs preference pairs (prompt, chosen, rejected); this data has none — generate two completions "
        "per prompt and rank them (or use a judge), or train with SFT instead"
    )


def _grpo_conversion(cols: set[str], k: dict[str, str | None]) -> str:
    if k.get("messages") == "messages":
        return "prompt = messages up to (without) the last assistant turn; keep the answer as a column for the reward"
    pair = _pair(cols)
    if pair:
        return f"rename {pair[0]!r} to 'prompt'; keep {pair[1]!r} as the reference answer for the reward function"
    if any(v == "sharegpt" for v in k.values()):
        return "convert ShareGPT turns to messages, then prompt = the turns before the last assistant reply"
    return (
        "needs a 'prompt' column (text or list of messages) plus whatever the reward function checks against"
    )


def _shape_problems(
    fit: dict[str, dict[str, Any]], k: dict[str, str | None], rows: list[dict[str, Any]]
) -> None:
    """Rows that match the columns but would still train badly."""
    if k.get("messages") == "messages":
        bad_roles = not_last_assistant = 0
        for row in rows:
            msgs = row.get("messages")
            if not is_message_list(msgs):
                continue
            if any(m.get("role") not in ROLES for m in msgs):
                bad_roles += 1
            if msgs[-1].get("role") != "assistant":
                not_last_assistant += 1
        problems = []
        if bad_roles:
            problems.append(f"{bad_roles} rows have unknown roles (expected {', '.join(sorted(ROLES)[:4])}…)")
        if not_last_assistant:
            problems.append(
                f"{not_last_assistant} conversations do not end with an assistant turn (nothing to learn)"
            )
        if problems:
            fit["sft"]["problems"] = problems
    if fit["dpo"]["fits"]:
        same = sum(1 for r in rows if r.get("chosen") is not None and r.get("chosen") == r.get("rejected"))
        if same:
            fit["dpo"]["problems"] = [f"{same} rows have chosen == rejected (no preference signal)"]


def summarize_issues(
    q: dict[str, Any], fit: dict[str, dict[str, Any]], kinds: dict[str, str], n_rows: int
) -> list[str]:
    """The findings worth acting on, as short sentences."""
    issues = []
    if q["empty_rows"]:
        issues.append(f"{q['empty_rows']} empty rows (e.g. rows {q['empty_row_indices'][:5]})")
    for col, count in q["empty_cells"].items():
        if count and count != q["empty_rows"]:
            issues.append(f"column {col!r} is empty in {count} of {n_rows} rows")
    if q["duplicate_rows"]:
        issues.append(f"{q['duplicate_rows']} duplicate rows ({'; '.join(q['duplicate_examples'][:2])})")
    for col, kind in kinds.items():
        real = [p for p in kind.split("|") if p not in ("null", "missing")]
        if len(real) > 1:
            issues.append(f"column {col!r} mixes types: {kind}")
    row = q["lengths_chars"].get("row")
    if row and row["p95"] and row["max"] > 8 * row["p95"] and row["max"] > 20_000:
        issues.append(
            f"a few very long rows (max {row['max']:,} chars vs p95 {row['p95']:,}): filter them or set max_length"
        )
    for name, result in fit.items():
        for problem in result.get("problems", []):
            issues.append(f"{name.upper()}: {problem}")
    return issues
