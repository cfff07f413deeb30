"""Evaluation results as a table: one row per benchmark, the base model's score beside each evaluated
model's score and its gain over the base. Pure data (no Textual, no heavy imports): the `eval_results`
tool, the dashboard's Evals pane and replay all build the same table from the same `eval_result` events.

Also the log lines the templates mark for intern-tui (an eval score, Trackio's whereabouts), which the job
watcher turns into `eval_result` and `tracking` events.
"""

from __future__ import annotations

import json
from typing import Any

from ..events import Kind

EVAL_MARKER = "@@intern-tui-eval@@"
RECORD_KEYS = ("benchmark", "engine", "model", "label", "base", "limit", "metric", "score", "stderr", "n",
               "metrics", "provider")  # fmt: skip


def parse_eval_line(text: str, job_id: str) -> dict[str, Any] | None:
    """The `eval_result` payload of one marked log line, or None (not a result, or a broken one)."""
    if not text.startswith(EVAL_MARKER):
        return None
    try:
        record = json.loads(text[len(EVAL_MARKER) :])
    except ValueError:
        return None
    if not isinstance(record, dict) or not record.get("benchmark"):
        return None
    payload = {k: record.get(k) for k in RECORD_KEYS if k in record}
    score = payload.get("score")
    payload["score"] = float(score) if isinstance(score, int | float) else None
    payload["base"] = bool(payload.get("base"))
    payload["job_id"] = job_id
    return payload


def results_table(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows `{benchmark, metric, base, models: [{label, score, n, job_id, vs_base}]}` in first-seen order.
    A model evaluated twice on one benchmark keeps its latest score (results come in event order)."""
    table: dict[str, dict[str, Any]] = {}
    for r in results:
        bench = r.get("benchmark") or "?"
        row = table.setdefault(
            bench, {"benchmark": bench, "metric": r.get("metric"), "base": None, "models": {}}
        )
        entry = {
            "label": r.get("label") or r.get("model") or "?",
            "score": r.get("score"),
            "n": r.get("n"),
            "job_id": r.get("job_id"),
        }
        if r.get("base"):
            row["base"] = entry
        else:
            row["models"][entry["label"]] = entry
    out = []
    for row in table.values():
        base = (row["base"] or {}).get("score")
        models = list(row["models"].values())
        for m in models:
            if base is not None and m["score"] is not None:
                m["vs_base"] = round(m["score"] - base, 4)
        out.append({**row, "models": models})
    return out


TRACKIO_MARKER = "@@intern-tui-trackio@@"
MARKERS = (EVAL_MARKER, TRACKIO_MARKER)


def emit_marked_line(emit, text: str, job_id: str) -> bool:
    """Used by the job watcher for lines the templates mark for intern-tui: an evaluation's score becomes
    an `eval_result` event, Trackio's whereabouts a `tracking` event. True if the line was one of ours
    (a broken one included: it is still not output for a human)."""
    if text.startswith(EVAL_MARKER):
        payload = parse_eval_line(text, job_id)
        if payload is not None:
            emit(Kind.EVAL_RESULT, payload)
        return True
    if text.startswith(TRACKIO_MARKER):
        try:
            info = json.loads(text[len(TRACKIO_MARKER) :])
        except ValueError:
            return True
        if isinstance(info, dict):
            fields = {k: str(info[k]) for k in ("project", "dir", "command") if info.get(k)}
            emit(Kind.TRACKING, {"job_id": job_id, "tool": "trackio", **fields})
        return True
    return False
