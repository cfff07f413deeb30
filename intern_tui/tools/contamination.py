"""The contamination guard: does the training data contain the evaluation's items?

The measure is the one of the GPT-3 and Llama decontamination reports: an eval item counts as contaminated
when one of its 13-grams (words, lower-cased, punctuation dropped; maths operators kept) appears in the
training data. Items shorter than 13 words are matched whole, and items shorter than 8 words are too short
to judge and are left out (counted as unchecked). The figure is the share of eval items contaminated.

`launch_job` shows it in the approval of every launch whose training data is a local file (see
`launch_guard.py`); `check_contamination` lets the agent measure it and write a cleaned copy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .base import ToolContext, ToolError, agent_tool
from .benchmarks import in_use, load_items, research_setting, resolve
from .dataset_checks import text_of
from .dataset_io import load_local
from .files import _workspace

NGRAM = 13
MIN_ITEM_TOKENS = 8
DEFAULT_THRESHOLD = 0.01  # share of eval items; over it a launch is flagged

_TOKEN = re.compile(r"[a-z0-9]+|[+\-*/=<>^%]")


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


@dataclass
class EvalIndex:
    """The n-grams of one benchmark's items: {k: {gram: item indices}} (k < 13 only for short items)."""

    name: str
    texts: list[str]
    grams: dict[int, dict[str, list[int]]] = field(default_factory=dict)
    unchecked: int = 0

    @classmethod
    def build(cls, name: str, texts: list[str], n: int = NGRAM) -> EvalIndex:
        index = cls(name, texts)
        for i, text in enumerate(texts):
            toks = tokens(text)
            if len(toks) < MIN_ITEM_TOKENS:
                index.unchecked += 1
                continue
            k = min(n, len(toks))
            table = index.grams.setdefault(k, {})
            for j in range(len(toks) - k + 1):
                hits = table.setdefault(" ".join(toks[j : j + k]), [])
                if not hits or hits[-1] != i:
                    hits.append(i)
        return index

    def matches(self, text: str) -> set[int]:
        """Indices of the items one training text contains."""
        toks = tokens(text)
        found: set[int] = set()
        for k, table in self.grams.items():
            for j in range(len(toks) - k + 1):
                hits = table.get(" ".join(toks[j : j + k]))
                if hits:
                    found.update(hits)
        return found


def overlap(index: EvalIndex, rows: Iterable[Any]) -> dict[str, Any]:
    """How many eval items the rows contain, and which rows contain them."""
    items: set[int] = set()
    bad_rows: list[int] = []
    for r, row in enumerate(rows):
        text = text_of(list(row.values())) if isinstance(row, dict) else text_of(row)
        found = index.matches(text)
        if found:
            items |= found
            bad_rows.append(r)
    checked = len(index.texts) - index.unchecked
    return {
        "benchmark": index.name,
        "items": len(index.texts),
        "items_checked": checked,
        "items_contaminated": len(items),
        "fraction": round(len(items) / checked, 4) if checked else 0.0,
        "train_rows_overlapping": len(bad_rows),
        "train_row_indices": bad_rows[:20],
        "examples": [index.texts[i][:120] for i in sorted(items)[:3]],
        "_bad_rows": bad_rows,
    }


def eval_indexes(ctx: ToolContext, benchmarks: list[str] | None = None) -> tuple[list[EvalIndex], list[str]]:
    """Indexes of the benchmarks asked for (default: those in use this session), and notes on the ones
    whose items are not on this machine."""
    cache = ctx.settings.setdefault("eval_indexes", {})
    names = benchmarks if benchmarks is not None else in_use(ctx.workspace, ctx.settings.get("task", ""))
    indexes, notes = [], []
    for name in names:
        bench = resolve(name)
        texts = load_items(ctx.workspace, bench)
        if texts is None:
            notes.append(f"{bench.name}: items not on this machine yet (evaluate once locally to cache them)")
            continue
        key = (bench.name, len(texts), hash(tuple(texts)))
        if key not in cache:
            cache[key] = EvalIndex.build(bench.name, texts)
        indexes.append(cache[key])
    return indexes, notes


def read_rows(ctx: ToolContext, path: str) -> tuple[list[dict[str, Any]], str, list[str]]:
    """Rows of a workspace data file (the first 50,000), its workspace path, and notes."""
    target = _workspace(ctx).resolve(path)
    rel = _workspace(ctx).relative(target)
    loaded = load_local(target, rel, "train")
    notes = list(loaded.notes)
    if loaded.total_rows and loaded.total_rows > len(loaded.rows):
        notes.append(f"{rel}: checked the first {len(loaded.rows):,} of {loaded.total_rows:,} rows")
    return loaded.rows, rel, notes


def measure(
    ctx: ToolContext, data_paths: list[str], benchmarks: list[str] | None = None, max_rows: int | None = None
) -> dict[str, Any]:
    """Overlap of each training file (its first `max_rows` rows, when the job reads only those) with each
    benchmark in use: {"results": [...], "notes": [...], "worst": fraction}. Results are cached per file
    version, so an approval is shown quickly."""
    indexes, notes = eval_indexes(ctx, benchmarks)
    cache = ctx.settings.setdefault("overlap_cache", {})
    results = []
    for path in data_paths:
        target = _workspace(ctx).resolve(path)
        try:
            stat = target.stat()
        except OSError:
            notes.append(f"{path}: not found in the workspace")
            continue
        for index in indexes:
            key = (str(target), stat.st_mtime_ns, stat.st_size, index.name, len(index.texts), max_rows)
            if key not in cache:
                rows, rel, read_notes = read_rows(ctx, path)
                notes += read_notes
                rows = rows[:max_rows] if max_rows else rows
                cache[key] = {"data": rel, **overlap(index, rows)}
            results.append(cache[key])
    worst = max((r["fraction"] for r in results), default=0.0)
    return {"results": results, "notes": notes, "worst": worst}


def threshold(ctx: ToolContext) -> float:
    try:
        return float(research_setting(ctx.settings, "contamination_threshold", DEFAULT_THRESHOLD))
    except (TypeError, ValueError):
        return DEFAULT_THRESHOLD


def describe(result: dict[str, Any]) -> str:
    pct = f"{result['fraction'] * 100:.0f}%"
    return (
        f"{result['items_contaminated']} of {result['items_checked']} {result['benchmark']} items ({pct}) "
        f"appear in {result['data']} ({result['train_rows_overlapping']} training rows)"
    )


@agent_tool(output_type="object")
def check_contamination(
    ctx: ToolContext, data: str, benchmark: str | None = None, write_clean: str | None = None
) -> dict:
    """Measure how much of an evaluation set is in a training file (13-gram overlap, as in the GPT-3 and
    Llama decontamination reports), and optionally write a copy without the overlapping rows.

    Args:
        data: A training data file in the workspace (JSONL, JSON, CSV or parquet), e.g. 'data/train.jsonl'.
        benchmark: One benchmark, e.g. 'tiny-arith' or 'gsm8k'; default: every benchmark this session uses
            (evaluated, or named in the task).
        write_clean: A workspace path to write the rows that overlap no eval item to (JSONL).
    """
    found = measure(ctx, [data], [benchmark] if benchmark else None)
    if not found["results"] and not found["notes"]:
        raise ToolError(
            "no benchmark to compare with: name one (benchmark='tiny-arith'), or evaluate() one first"
        )
    out: dict[str, Any] = {
        "threshold": threshold(ctx),
        "results": [{k: v for k, v in r.items() if not k.startswith("_")} for r in found["results"]],
        "notes": found["notes"],
    }
    out["flagged"] = [describe(r) for r in found["results"] if r["fraction"] > out["threshold"]]
    if write_clean:
        drop = {i for r in found["results"] for i in r["_bad_rows"]}
        rows, _, _ = read_rows(ctx, data)
        kept = [row for i, row in enumerate(rows) if i not in drop]
        content = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in kept)
        written = _workspace(ctx).write_text(ctx, write_clean, content)
        out["clean"] = {"path": written["path"], "rows": len(kept), "dropped": len(rows) - len(kept)}
    return out


def data_files_in(workspace: Path, values: Iterable[str]) -> list[str]:
    """The values that name a data file inside the workspace (relative or absolute), as relative paths."""
    from .dataset_io import DATA_SUFFIXES

    root = workspace.resolve()
    found = []
    for value in values:
        if not isinstance(value, str) or not value.lower().endswith(DATA_SUFFIXES):
            continue
        path = Path(value)
        full = (path if path.is_absolute() else root / path).resolve()
        if full.is_file() and full.is_relative_to(root):
            rel = full.relative_to(root).as_posix()
            if rel not in found:
                found.append(rel)
    return found
