"""Hub tools: find datasets and models, and inspect a dataset before training on it.

`search_hub` goes through a `huggingface_hub.HfApi` (imported lazily; `ctx.hub_api` when set, which is how
tests pass a double). `inspect_dataset` reads local files directly and Hub datasets through the dataset
viewer API, so it never downloads a dataset. Publishing (`push_to_hub`) lives in publish.py.
"""

from __future__ import annotations

import re
from typing import Any

from ..workspace import Workspace
from .base import ToolContext, ToolError, agent_tool
from .dataset_checks import column_kinds, quality, summarize_issues, trainer_fit, truncate_cell
from .dataset_io import DATA_SUFFIXES, load_hub, load_local
from .http import http_for, offline_message

HUB = "https://huggingface.co"
REPO_ID = re.compile(r"^(?:[A-Za-z0-9][\w.\-]*/)?[A-Za-z0-9][\w.\-]*$")
SORTS = {
    "downloads": "downloads",
    "likes": "likes",
    "trending": "trending_score",
    "trending_score": "trending_score",
    "recent": "last_modified",
    "last_modified": "last_modified",
    "created_at": "created_at",
}

# -- search_hub -----------------------------------------------------------------------------------


@agent_tool(output_type="array")
def search_hub(
    ctx: ToolContext, query: str, kind: str = "dataset", limit: int = 10, sort: str = "downloads"
) -> list:
    """Search the Hugging Face Hub for datasets or models. An exact id ('org/name') is looked up first.

    Args:
        query: Words to search for, e.g. 'gsm8k', 'preference pairs math', or an exact id 'Qwen/Qwen2.5-0.5B'.
        kind: 'dataset' or 'model'.
        limit: How many results (1-50).
        sort: 'downloads', 'likes', 'trending', 'recent' or 'created_at' (all descending).
    """
    kind = {"datasets": "dataset", "models": "model"}.get(kind, kind)
    if kind not in ("dataset", "model"):
        raise ToolError("kind must be 'dataset' or 'model'")
    if sort not in SORTS:
        raise ToolError(f"sort must be one of {', '.join(SORTS)}")
    if not isinstance(query, str) or not query.strip():
        raise ToolError(
            "query is empty; say what to look for, e.g. search_hub('math reasoning', kind='dataset')"
        )
    limit = max(1, min(int(limit), 50))
    api = hub_api(ctx)
    query = query.strip()
    results: list[dict] = []
    if REPO_ID.match(query) and "/" in query:
        info = _exact(api, query, kind)
        if info is not None:
            results.append({**_summary(info, kind, detailed=True), "exact_match": True})
    if kind == "dataset":
        expand = ["downloads", "likes", "lastModified", "tags", "gated"]
        found = hub_call(
            lambda: list(api.list_datasets(search=query, sort=SORTS[sort], limit=limit, expand=expand))
        )
    else:
        expand = [
            "downloads",
            "likes",
            "lastModified",
            "tags",
            "gated",
            "pipeline_tag",
            "library_name",
            "cardData",
        ]
        found = hub_call(
            lambda: list(api.list_models(search=query, sort=SORTS[sort], limit=limit, expand=expand))
        )
    seen = {r["id"] for r in results}
    results.extend(_summary(info, kind) for info in found if info.id not in seen)
    return results[:limit] if results else [{"note": f"no {kind}s match {query!r}; try fewer or other words"}]


def _exact(api: Any, repo_id: str, kind: str) -> Any:
    getter = api.dataset_info if kind == "dataset" else api.model_info
    try:
        return hub_call(lambda: getter(repo_id), not_found_ok=True)
    except ToolError:
        return None  # the search below still runs; a failing exact lookup is not the agent's problem


def _summary(info: Any, kind: str, detailed: bool = False) -> dict[str, Any]:
    tags = list(getattr(info, "tags", None) or [])
    card = getattr(info, "card_data", None)
    out: dict[str, Any] = {
        "id": info.id,
        "downloads": getattr(info, "downloads", None),
        "likes": getattr(info, "likes", None),
        "last_modified": _date(getattr(info, "last_modified", None)),
    }
    license_ = _tag(tags, "license") or (card.get("license") if card is not None else None)
    if kind == "dataset":
        out.update(
            task=_tags(tags, "task_categories"),
            size=_tag(tags, "size_categories"),
            license=license_,
            language=_tags(tags, "language")[:5],
            format=_tags(tags, "format"),
        )
    else:
        pipeline = getattr(info, "pipeline_tag", None) or (
            card.get("pipeline_tag") if card is not None else None
        )
        base = [t.split(":")[-1] for t in tags if t.startswith("base_model:")]
        out.update(
            task=pipeline,
            library=getattr(info, "library_name", None),
            license=license_,
            base_model=base[0] if base else None,
        )
        st = getattr(info, "safetensors", None)
        if st is not None and getattr(st, "total", None):
            out["params"] = _params(st.total)
    if getattr(info, "gated", False):
        out["gated"] = info.gated
    if detailed:
        out["tags"] = [t for t in tags if ":" not in t][:15]
        if getattr(info, "private", None):
            out["private"] = True
    return {k: v for k, v in out.items() if v not in (None, [], "")}


def _tags(tags: list[str], prefix: str) -> list[str]:
    return [t.split(":", 1)[1] for t in tags if t.startswith(prefix + ":")]


def _tag(tags: list[str], prefix: str) -> str | None:
    found = _tags(tags, prefix)
    return found[0] if found else None


def _date(value: Any) -> str | None:
    return value.date().isoformat() if hasattr(value, "date") else (str(value)[:10] if value else None)


def _params(total: int) -> str:
    return f"{total / 1e9:.1f}B" if total >= 1e9 else f"{total / 1e6:.0f}M"


# -- inspect_dataset --------------------------------------------------------------------------------


@agent_tool(output_type="object")
def inspect_dataset(
    ctx: ToolContext,
    dataset_id: str,
    split: str = "train",
    n: int = 5,
    config: str | None = None,
    offset: int | None = None,
) -> dict:
    """Inspect a dataset before training: columns, splits and sizes, sample rows, quality checks (empty and
    duplicate rows, length distribution) and which trainer (SFT, DPO, GRPO) its columns fit.

    Args:
        dataset_id: A Hub dataset id ('openai/gsm8k') or 'local:PATH' for a JSON/JSONL/CSV/parquet file or
            folder in the workspace ('local:data/train.jsonl').
        split: Which split to look at (Hub datasets and local folders with train/test files).
        n: How many sample rows to show (0-20); long cells are cut.
        config: The Hub dataset's config (subset); default 'default' or the first one.
        offset: Hub datasets: inspect rows from this index instead of the first rows.
    """
    if not isinstance(dataset_id, str) or not dataset_id.strip():
        raise ToolError("dataset_id must be a Hub id like 'openai/gsm8k' or 'local:PATH'")
    dataset_id = dataset_id.strip()
    n = max(0, min(int(n), 20))
    if dataset_id.startswith("local:"):
        rel = dataset_id[len("local:") :].strip()
        target = Workspace(ctx.workspace).resolve(rel)  # confinement: no absolute paths, '..' or symlinks
        loaded = load_local(target, rel, split)
    else:
        if dataset_id.lower().endswith(DATA_SUFFIXES):
            raise ToolError(
                f"{dataset_id!r} looks like a file; for a workspace file use 'local:{dataset_id}'"
            )
        if not REPO_ID.match(dataset_id):
            raise ToolError(f"{dataset_id!r} is not a Hub dataset id (expected 'org/name') or 'local:PATH'")
        loaded = load_hub(http_for(ctx), dataset_id, split, n, config, offset, _auth_headers(ctx))
    rows = loaded.rows
    kinds = column_kinds(rows)
    q = quality(rows)
    fit = trainer_fit(kinds, rows)
    total = loaded.total_rows if loaded.total_rows is not None else len(rows)
    issues = summarize_issues(q, fit, kinds, len(rows))
    if not rows:
        issues.insert(0, "no rows to check")
    elif not any(r["fits"] for r in fit.values()):
        issues.insert(0, "no trainer takes these columns as they are: see trainers[...]['convert']")
    fits = [name.upper() for name, r in fit.items() if r["fits"]]
    out: dict[str, Any] = {
        "dataset": dataset_id,
        "split": split,
        "rows": total,
        "splits": loaded.splits or None,
        "columns": kinds,
        "features": loaded.schema or None,
        **loaded.source,
        "sample": [{k: truncate_cell(v) for k, v in row.items()} for row in rows[:n]],
        "quality": q,
        "trainers": fit,
        "fits": fits,
        "issues": issues,
        "notes": loaded.notes or None,
    }
    return {k: v for k, v in out.items() if v is not None}


def _auth_headers(ctx: ToolContext) -> dict[str, str]:
    """The user's Hub token lets the viewer read gated/private datasets; sent to huggingface.co only."""
    token = hub_token(ctx.hub_api)
    return {"Authorization": f"Bearer {token}"} if token else {}


# -- the Hub client -------------------------------------------------------------------------------------


def hub_api(ctx: ToolContext) -> Any:
    if ctx.hub_api is None:
        from huggingface_hub import HfApi  # lazy: ~0.3 s, and only tools that talk to the Hub need it

        ctx.hub_api = HfApi()
    return ctx.hub_api


def hub_token(api: Any) -> str | None:
    token = getattr(api, "token", None)
    if isinstance(token, str) and token:
        return token
    from huggingface_hub import get_token

    return get_token()


def hub_call(fn, *, not_found_ok: bool = False) -> Any:
    """Run one Hub call, turning library errors into one actionable line."""
    try:
        return fn()
    except ToolError:
        raise
    except Exception as exc:
        names = {c.__name__ for c in type(exc).__mro__}
        if not_found_ok and "RepositoryNotFoundError" in names and "GatedRepoError" not in names:
            return None
        status = getattr(getattr(exc, "response", None), "status_code", None)
        # Hub HTTP errors are OSErrors too: only an error without a response means "could not connect".
        if status is None and (
            "OfflineModeIsEnabled" in names
            or isinstance(exc, OSError)
            or names & {"ConnectError", "TimeoutException"}
        ):
            raise ToolError(offline_message(HUB)) from None
        if "GatedRepoError" in names:
            raise ToolError(
                "the repo is gated: accept its terms on the Hub with the account whose token is used"
            ) from None
        if "RepositoryNotFoundError" in names:
            raise ToolError("repo not found, or private and not readable with the current token") from None
        if status in (401, 403):
            raise ToolError(
                f"the Hub refused the request (HTTP {status}): check that HF_TOKEN is valid (with write access for uploads)"
            ) from None
        if status == 429:
            raise ToolError("the Hub is rate-limiting requests: wait a minute and retry") from None
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ToolError(f"Hub request failed: {first[:300]}") from None
