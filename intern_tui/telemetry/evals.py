"""Evaluation results as a table: one row per benchmark, the base model's score beside each evaluated
model's score and its gain over the base. Pure data (no Textual, no heavy imports): the `eval_results`
tool, the dashboard's Evals pane and replay all build the same table from the same `eval_result` events.
"""

from __future__ import annotations

from typing import Any


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
