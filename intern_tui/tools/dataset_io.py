"""Getting rows to inspect: local JSON/JSONL/CSV/parquet files in the workspace, or a Hub dataset through
the dataset viewer API (datasets-server.huggingface.co: /is-valid, /splits, /info, /size, /first-rows,
/rows), which answers without downloading the dataset.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .base import ToolError
from .http import Http, Response

VIEWER = "https://datasets-server.huggingface.co"
DATA_SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".parquet")
KNOWN_SPLITS = ("train", "test", "validation", "valid", "dev", "eval")
MAX_JSON_BYTES = 500_000_000
MAX_SCAN_ROWS = 50_000  # local files: quality checks look at this many rows at most


@dataclass
class Loaded:
    """Rows plus what is known about where they came from."""

    rows: list[dict[str, Any]]
    total_rows: int | None
    source: dict[str, Any] = field(default_factory=dict)
    schema: dict[str, str] = field(default_factory=dict)
    splits: dict[str, int | None] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# -- local files ------------------------------------------------------------------------------------


def load_local(target: Path, rel: str, split: str) -> Loaded:
    """Read a workspace file, or the `split` files of a workspace folder (train.jsonl, train-0000.parquet…)."""
    if target.is_dir():
        files = sorted(
            p
            for p in target.rglob("*")
            if p.is_file()
            and p.suffix.lower() in DATA_SUFFIXES
            and not p.is_symlink()
            and not any(part.startswith(".") for part in p.relative_to(target).parts)
        )
        if not files:
            raise ToolError(f"folder {rel!r} has no {'/'.join(s[1:] for s in DATA_SUFFIXES)} files")
        splits = sorted({_split_name(p) for p in files})
        chosen = [p for p in files if _split_name(p) == split]
        if not chosen:
            if len(files) == 1:
                chosen = files
            else:
                raise ToolError(f"no {split!r} split in {rel!r}; splits found: {', '.join(splits)}")
        loaded = _merge([_load_file(p) for p in chosen])
        loaded.splits = {s: None for s in splits}
        loaded.source = {
            "format": chosen[0].suffix.lstrip(".").lower(),
            "files": [str(p.relative_to(target)) for p in chosen],
        }
        return loaded
    if not target.is_file():
        raise ToolError(f"no file or folder {rel!r} in the workspace (list_files() shows what exists)")
    if target.suffix.lower() not in DATA_SUFFIXES:
        raise ToolError(f"{rel!r} is not a data file; supported: {', '.join(DATA_SUFFIXES)}")
    loaded = _load_file(target)
    loaded.source = {"format": target.suffix.lstrip(".").lower(), "bytes": target.stat().st_size}
    return loaded


def _split_name(path: Path) -> str:
    """`train.jsonl`, `train-00000-of-00002.parquet`, `test_v2.csv` → train / train / test."""
    stem = path.name.split(".")[0]
    head = re.split(r"[-_]", stem)[0]
    return head if head in KNOWN_SPLITS else stem


def _merge(parts: list[Loaded]) -> Loaded:
    rows = [r for p in parts for r in p.rows][:MAX_SCAN_ROWS]
    total = sum(p.total_rows or 0 for p in parts)
    merged = Loaded(rows, total, schema=parts[0].schema)
    merged.notes = [n for p in parts for n in p.notes]
    return merged


def _load_file(path: Path) -> Loaded:
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return _load_parquet(path)
        if suffix in (".csv", ".tsv"):
            return _load_csv(path, "\t" if suffix == ".tsv" else ",")
        if suffix == ".json":
            return _load_json(path)
        return _load_jsonl(path)
    except UnicodeDecodeError:
        raise ToolError(f"{path.name} is not UTF-8 text") from None
    except csv.Error as exc:
        raise ToolError(f"{path.name} is not a readable CSV file: {exc}") from None
    except OSError as exc:
        raise ToolError(f"cannot read {path.name}: {exc.strerror or exc}") from None


def _load_jsonl(path: Path) -> Loaded:
    rows, bad, total = [], [], 0
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            total += 1
            if len(rows) >= MAX_SCAN_ROWS:
                continue  # count the rest without keeping it
            try:
                value = json.loads(line)
            except ValueError:
                bad.append(lineno)
                continue
            if isinstance(value, dict):
                rows.append(value)
            else:
                bad.append(lineno)
    loaded = Loaded(rows, total - len(bad))
    if bad:
        loaded.notes.append(f"{len(bad)} lines are not JSON objects and were skipped (first: line {bad[0]})")
    if total > MAX_SCAN_ROWS:
        loaded.notes.append(f"checks ran on the first {MAX_SCAN_ROWS:,} of {total:,} rows")
    return loaded


def _load_json(path: Path) -> Loaded:
    if path.stat().st_size > MAX_JSON_BYTES:
        raise ToolError(
            f"{path.name} is too large to inspect as one JSON document; save it as JSONL or parquet"
        )
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except ValueError:
        return _load_jsonl(path)  # JSON Lines saved as .json is common
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        if lists and all(isinstance(v, list) and len(v) == len(lists[0]) for v in data.values()):
            data = [
                dict(zip(data.keys(), values, strict=True)) for values in zip(*data.values(), strict=True)
            ]  # columnar
        elif len(lists) == 1:
            data = lists[0]  # {"data": [...]} and similar wrappers
        else:
            data = [data]
    if not isinstance(data, list):
        raise ToolError(f"{path.name} holds a JSON {type(data).__name__}, not a list of records")
    rows = [r for r in data if isinstance(r, dict)]
    loaded = Loaded(rows[:MAX_SCAN_ROWS], len(rows))
    if len(rows) != len(data):
        loaded.notes.append(f"{len(data) - len(rows)} items are not JSON objects and were skipped")
    return loaded


def _load_csv(path: Path, delimiter: str) -> Loaded:
    # Training text often exceeds the csv module's default 128 KiB cell limit; raise it (process-wide, harmless).
    csv.field_size_limit(max(csv.field_size_limit(), 64 * 1024 * 1024))
    rows, total = [], 0
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh, delimiter=delimiter)
        for row in reader:
            total += 1
            if len(rows) < MAX_SCAN_ROWS:
                rows.append({k if k is not None else "_extra": v for k, v in row.items()})
    loaded = Loaded(rows, total)
    if any("_extra" in r for r in rows[:1000]):
        loaded.notes.append("some CSV rows have more fields than the header")
    return loaded


def _load_parquet(path: Path) -> Loaded:
    import pyarrow.parquet as pq  # lazy: pyarrow costs ~0.3 s to import

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises its own ArrowInvalid for damaged files
        raise ToolError(f"{path.name} is not a readable parquet file: {exc}") from None
    rows: list[dict[str, Any]] = []
    for batch in pf.iter_batches(batch_size=2048):
        rows.extend(batch.to_pylist())
        if len(rows) >= MAX_SCAN_ROWS:
            break
    total = pf.metadata.num_rows
    schema = {f.name: str(f.type) for f in pf.schema_arrow}
    loaded = Loaded(rows[:MAX_SCAN_ROWS], total, schema=schema)
    if total > MAX_SCAN_ROWS:
        loaded.notes.append(f"checks ran on the first {MAX_SCAN_ROWS:,} of {total:,} rows")
    return loaded


# -- the dataset viewer API ----------------------------------------------------------------------------


def viewer_get(
    http: Http, endpoint: str, params: dict[str, Any], dataset: str, headers: dict[str, str]
) -> Any:
    resp = http.get(f"{VIEWER}/{endpoint}", params, headers=headers, ttl=3600.0, retries=1)
    if resp.ok:
        return resp.json()
    raise ToolError(viewer_error(resp, dataset))


def viewer_error(resp: Response, dataset: str) -> str:
    try:
        body = resp.json()
    except ToolError:
        body = {}
    msg = body.get("error") if isinstance(body, dict) else None
    msg = msg or resp.error_message()
    if resp.status == 404:
        return (
            f"dataset {dataset!r} not found on the Hub, or private/gated ({msg}); check the id with "
            "search_hub() or log in with a token that can read it"
        )
    if isinstance(body, dict) and body.get("cause_exception"):
        cause = " ".join(str(body.get("cause_message") or "").split())[:200]
        return f"the dataset viewer cannot read {dataset!r}: {msg} ({body['cause_exception']}: {cause})"
    if resp.status >= 500:
        return f"the dataset viewer could not answer for {dataset!r}: {msg} — retry in a minute"
    return f"the dataset viewer refused the request for {dataset!r} (HTTP {resp.status}): {msg}"


def feature_type(spec: Any) -> str:
    """A `datasets` feature spec (as JSON) in a few words: string, int64, class_label[neg,pos], list[...]."""
    if isinstance(spec, list):
        return f"list[{feature_type(spec[0]) if spec else '?'}]"
    if not isinstance(spec, dict):
        return str(spec)
    kind = spec.get("_type")
    if kind == "Value":
        return str(spec.get("dtype"))
    if kind == "ClassLabel":
        names = spec.get("names") or []
        return f"class_label[{','.join(map(str, names[:6]))}{',…' if len(names) > 6 else ''}]"
    if kind in ("List", "Sequence", "LargeList"):
        return f"list[{feature_type(spec.get('feature'))}]"
    if kind in ("Image", "Audio", "Video", "Pdf"):
        return kind.lower()
    if kind is None:  # a struct: {field: spec}
        inner = ", ".join(f"{k}: {feature_type(v)}" for k, v in list(spec.items())[:8])
        return "{" + inner + "}"
    return kind


def parse_info(data: dict[str, Any], config: str | None) -> dict[str, Any]:
    """/info answers with one config's info, or (without `config`) a dict keyed by config name."""
    info = data.get("dataset_info") or {}
    if "features" not in info and info:
        info = info.get(config) if config in info else next(iter(info.values()))
    features = {name: feature_type(spec) for name, spec in (info.get("features") or {}).items()}
    splits = {name: s.get("num_examples") for name, s in (info.get("splits") or {}).items()}
    return {
        "features": features,
        "splits": splits,
        "config": info.get("config_name"),
        "description": " ".join((info.get("description") or "").split())[:300] or None,
        "license": info.get("license") or None,
    }


def parse_size(data: dict[str, Any], config: str) -> dict[str, Any]:
    size = data.get("size") or {}
    splits = {s["split"]: s.get("num_rows") for s in size.get("splits", []) if s.get("config") == config}
    cfg = next((c for c in size.get("configs", []) if c.get("config") == config), {})
    return {
        "splits": splits,
        "parquet_bytes": cfg.get("num_bytes_parquet_files"),
        "partial": data.get("partial"),
    }


def parse_rows(data: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, str], list[str], int | None]:
    """/first-rows and /rows: (rows, features, columns whose cells the viewer truncated, total rows if given)."""
    features = {f["name"]: feature_type(f.get("type")) for f in data.get("features") or []}
    rows, truncated = [], set()
    for item in data.get("rows") or []:
        rows.append(item.get("row") or {})
        truncated.update(item.get("truncated_cells") or [])
    return rows, features, sorted(truncated), data.get("num_rows_total")


def load_hub(
    http: Http,
    dataset: str,
    split: str,
    n: int,
    config: str | None,
    offset: int | None,
    headers: dict[str, str],
) -> Loaded:
    valid = viewer_get(http, "is-valid", {"dataset": dataset}, dataset, headers)
    if not (valid.get("preview") or valid.get("viewer")):
        raise ToolError(
            f"the dataset viewer has no preview of {dataset!r} (it may be too new, scripted or "
            "unsupported); download a sample with a job, or pick another dataset"
        )
    pairs = [
        (s["config"], s["split"])
        for s in viewer_get(http, "splits", {"dataset": dataset}, dataset, headers).get("splits", [])
    ]
    configs = list(dict.fromkeys(c for c, _ in pairs))
    if config is None:
        with_split = [c for c, s in pairs if s == split]
        config = (
            "default"
            if ("default", split) in pairs
            else (with_split[0] if with_split else (configs[0] if configs else None))
        )
    if config is None or (config, split) not in pairs:
        available = ", ".join(f"{c}/{s}" for c, s in pairs[:12])
        raise ToolError(
            f"{dataset!r} has no split {split!r}"
            + (f" in config {config!r}" if config else "")
            + f"; available config/split: {available}"
        )
    info = parse_info(
        viewer_get(http, "info", {"dataset": dataset, "config": config}, dataset, headers), config
    )
    try:
        size = parse_size(viewer_get(http, "size", {"dataset": dataset}, dataset, headers), config)
    except ToolError:
        size = {"splits": {}}
    if offset:
        data = viewer_get(
            http,
            "rows",
            {"dataset": dataset, "config": config, "split": split, "offset": offset, "length": max(n, 20)},
            dataset,
            headers,
        )
    else:
        data = viewer_get(
            http, "first-rows", {"dataset": dataset, "config": config, "split": split}, dataset, headers
        )
    rows, features, truncated, total = parse_rows(data)
    splits = {**info["splits"], **{k: v for k, v in size["splits"].items() if v is not None}}
    loaded = Loaded(rows, splits.get(split) or total, schema=features or info["features"], splits=splits)
    loaded.source = {
        "config": config,
        "configs": configs,
        "viewer": f"https://huggingface.co/datasets/{dataset}/viewer/{config}/{split}",
    }
    if info.get("license"):
        loaded.source["license"] = info["license"]
    if size.get("parquet_bytes"):
        loaded.source["parquet_bytes"] = size["parquet_bytes"]
    where = f"rows {offset}-{offset + len(rows) - 1}" if offset else f"the first {len(rows)} rows"
    loaded.notes.append(f"checks ran on {where} served by the dataset viewer, not the whole split")
    if truncated:
        loaded.notes.append(
            f"the viewer truncated long cells in {', '.join(truncated)}: their lengths are lower bounds"
        )
    return loaded
