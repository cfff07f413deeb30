"""Research tools: find papers, read them section by section, and follow their citations.

Sources (public APIs, no key needed): Semantic Scholar's Graph API (search, details, citations, with
`S2_API_KEY` sent when set), arXiv's export API (search and metadata, the fallback when Semantic Scholar
rate-limits), Hugging Face papers (search, daily papers, AI summaries and code links) and arXiv's HTML
renderings for full text (papers with LaTeX source submitted since late 2023, and many older ones).
Every result is compact plain data; a missing source degrades to what the others gave.
"""

from __future__ import annotations

import os
import urllib.parse
from typing import Any

from .base import ToolContext, ToolError, agent_tool
from .http import Response, Unreachable, http_for
from .paper_html import parse_paper_html
from .paper_sources import (
    ARXIV_API,
    HF_API,
    S2_API,
    S2_LINK_FIELDS,
    S2_PAPER_FIELDS,
    arxiv_search_query,
    hf_paper,
    parse_arxiv_feed,
    parse_paper_id,
    parse_s2_links,
    parse_s2_search,
    s2_paper,
)

SOURCES = ("auto", "semantic_scholar", "arxiv", "hf", "hf_daily")
HOUR, DAY = 3600.0, 86400.0
MAX_SECTION_CHARS = 6000


class ServiceError(ToolError):
    """A paper service answered with an error status (rate limit, not found, bad request, outage)."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


# -- tools ----------------------------------------------------------------------------------------


@agent_tool(output_type="object")
def search_papers(
    ctx: ToolContext, query: str, source: str = "auto", limit: int = 8, sort: str = "relevance"
) -> dict:
    """Search research papers. Returns ids usable with read_paper() and paper_citations().

    Args:
        query: What to look for, e.g. 'GRPO reward collapse' or 'direct preference optimization'.
        source: 'auto' (Semantic Scholar, falling back to arXiv), 'semantic_scholar', 'arxiv', 'hf'
            (Hugging Face paper search) or 'hf_daily' (today's trending papers; the query filters them,
            '' lists all).
        limit: How many papers to return (1-25).
        sort: 'relevance' or 'date' (newest first; searches arXiv).
    """
    if not isinstance(query, str):
        raise ToolError("query must be a string")
    if source not in SOURCES:
        raise ToolError(f"unknown source {source!r}; use one of {', '.join(SOURCES)}")
    if sort not in ("relevance", "date"):
        raise ToolError("sort must be 'relevance' or 'date'")
    limit = max(1, min(int(limit), 25))
    if not query.strip() and source != "hf_daily":
        raise ToolError(
            "query is empty; say what to look for (or use source='hf_daily' to list trending papers)"
        )
    note = None
    if source == "auto":
        if sort == "date":
            source = "arxiv"
        else:
            try:
                result = _search_s2(ctx, query, limit)
                if result["papers"]:
                    return _finish_search(query, "semantic_scholar", result, None)
                note = "Semantic Scholar found nothing; results from arXiv"
            except ToolError as exc:
                note = f"Semantic Scholar unavailable ({exc}); results from arXiv"
            source = "arxiv"
    if source == "semantic_scholar":
        result = _search_s2(ctx, query, limit)
    elif source == "arxiv":
        result = _search_arxiv(ctx, query, limit, sort)
    else:
        result = _search_hf(ctx, query, limit, daily=source == "hf_daily")
    if source != "semantic_scholar" and result["papers"]:
        _add_citation_counts(ctx, result["papers"])
    return _finish_search(query, source, result, note)


@agent_tool(output_type="object")
def read_paper(
    ctx: ToolContext, paper_id: str, section: str | None = None, max_chars: int = MAX_SECTION_CHARS
) -> dict:
    """Read a paper: title, authors, abstract and its table of contents; or one section's text.

    Args:
        paper_id: An arXiv id ('2305.18290'), an arXiv or Hugging Face paper URL, a Semantic Scholar id,
            'DOI:…', or a paper title.
        section: A section number or name from the table of contents ('3', '4.2', 'Experiments',
            'Appendix B'), or 'all' for the whole text. Default: no section text, just the contents.
        max_chars: Cut the section text after this many characters (default 6000).
    """
    max_chars = max(500, min(int(max_chars), 40_000))
    kind, pid = parse_paper_id(paper_id)
    paper: dict[str, Any] = {}
    if kind == "title":
        paper = _s2_match(ctx, pid)
    elif kind == "s2":
        paper = _s2_details(ctx, pid)
    arxiv_id = pid if kind == "arxiv" else paper.get("arxiv_id")
    notes: list[str] = []
    if arxiv_id:
        paper = _describe_arxiv_paper(ctx, arxiv_id, paper, notes)
    out = {k: v for k, v in paper.items() if k not in ("source", "s2_id") and v not in (None, "", [])}
    if not arxiv_id:
        notes.append("no arXiv id, so no full text (it comes from arXiv's HTML rendering)")
    doc = _arxiv_html(ctx, arxiv_id, notes) if arxiv_id else None
    if doc is None:
        out["sections"] = None
        if section:
            out["text"] = None
        pdf = out.get("pdf") or (f"https://arxiv.org/pdf/{arxiv_id}" if arxiv_id else None)
        out["note"] = (
            "; ".join(notes) + " — only the abstract is available here" + (f"; PDF: {pdf}" if pdf else "")
        )
        return out
    if not section:
        out["sections"] = doc.toc()
        out["hint"] = "read_paper(id, section='<number or name>') returns one section's text"
        if notes:
            out["note"] = "; ".join(notes)
        return out
    if section.strip().lower() in ("all", "full", "*"):
        found = doc.sections
    else:
        found = doc.find(section)
    if not found:
        headings = ", ".join(s.heading for s in doc.sections if s.level == 1)
        raise ToolError(f"no section {section!r} in {arxiv_id}; sections: {headings}")
    text = "\n\n".join(f"## {s.heading}\n{s.text}" for s in found)
    out.pop("abstract", None)  # the agent asked for a section: spend its context on that
    out["section"] = found[0].heading
    if len(text) > max_chars:
        out["text"] = (
            text[:max_chars]
            + f"\n… [cut: {len(text) - max_chars:,} more characters; raise max_chars or ask for a subsection]"
        )
    else:
        out["text"] = text
    if notes:
        out["note"] = "; ".join(notes)
    return out


@agent_tool(output_type="object")
def paper_citations(
    ctx: ToolContext, paper_id: str, direction: str = "citing", limit: int = 15, offset: int = 0
) -> dict:
    """Follow the citation graph (Semantic Scholar): papers that cite this one, or the ones it cites.

    Args:
        paper_id: An arXiv id, a Semantic Scholar id, 'DOI:…' or a paper title.
        direction: 'citing' (later papers that cite it) or 'references' (papers it cites).
        limit: How many papers to return (1-50), most cited (and influential) first, out of a page of 100.
        offset: Start the page here (use the returned next_offset to see more).
    """
    direction = {
        "citations": "citing",
        "cited_by": "citing",
        "refs": "references",
        "reference": "references",
        "cited": "references",
    }.get(direction, direction)
    if direction not in ("citing", "references"):
        raise ToolError("direction must be 'citing' (papers citing it) or 'references' (papers it cites)")
    limit = max(1, min(int(limit), 50))
    kind, pid = parse_paper_id(paper_id)
    if kind == "arxiv":
        s2_id = f"arXiv:{pid}"
    elif kind == "s2":
        s2_id = pid
    else:
        s2_id = _s2_match(ctx, pid).get("s2_id") or pid
    endpoint = "citations" if direction == "citing" else "references"
    params = {"fields": S2_LINK_FIELDS, "limit": 100, "offset": max(0, int(offset)) or None}
    data = _s2_get(ctx, f"/paper/{s2_id}/{endpoint}", params, what=s2_id, ttl=DAY)
    page = parse_s2_links(data, direction)
    papers = page["papers"]
    papers.sort(key=lambda p: (bool(p.get("influential")), p.get("citations") or 0), reverse=True)
    shown = papers[:limit]
    return {
        "paper_id": paper_id,
        "direction": direction,
        "fetched": len(papers),
        "next_offset": page["next"],
        "papers": shown,
        "note": "papers with id None are known only as reference strings"
        if any(p["id"] is None for p in shown)
        else None,
    }


# -- Semantic Scholar ---------------------------------------------------------------------------------


def _s2_headers() -> dict[str, str]:
    key = os.environ.get("S2_API_KEY", "").strip()
    return {"x-api-key": key} if key else {}


def _s2_get(ctx: ToolContext, path: str, params: dict[str, Any], *, what: str, ttl: float) -> Any:
    resp = http_for(ctx).get(
        S2_API + urllib.parse.quote(path, safe="/:"), params, headers=_s2_headers(), ttl=ttl
    )
    return _s2_json(resp, what)


def _s2_json(resp: Response, what: str) -> Any:
    if resp.ok:
        return resp.json()
    msg = resp.error_message()
    if resp.status == 404:
        raise ServiceError(f"Semantic Scholar has no paper {what!r} ({msg})", 404)
    if resp.status == 429:
        raise ServiceError(
            "Semantic Scholar is rate-limiting requests (shared public quota): wait a minute, set S2_API_KEY, "
            "or search arXiv with source='arxiv'",
            429,
        )
    if resp.status >= 500:
        raise ServiceError(
            f"Semantic Scholar is failing (HTTP {resp.status}: {msg}); try again later", resp.status
        )
    raise ServiceError(f"Semantic Scholar rejected the request (HTTP {resp.status}): {msg}", resp.status)


def _search_s2(ctx: ToolContext, query: str, limit: int) -> dict:
    data = _s2_get(
        ctx,
        "/paper/search",
        {"query": query, "limit": limit, "fields": S2_PAPER_FIELDS},
        what=query,
        ttl=6 * HOUR,
    )
    return parse_s2_search(data)


def _s2_match(ctx: ToolContext, title: str) -> dict:
    """The single best title match (Semantic Scholar's /paper/search/match)."""
    try:
        data = _s2_get(
            ctx, "/paper/search/match", {"query": title, "fields": S2_PAPER_FIELDS}, what=title, ttl=7 * DAY
        )
    except ServiceError as exc:
        if exc.status == 404:
            raise ToolError(f"no paper titled {title!r} found; try search_papers({title!r})") from None
        raise
    papers = parse_s2_search(data)["papers"]
    if not papers:
        raise ToolError(f"no paper titled {title!r} found; try search_papers({title!r})")
    return _full_abstract(papers[0], data["data"][0])


def _s2_details(ctx: ToolContext, s2_id: str) -> dict:
    data = _s2_get(ctx, f"/paper/{s2_id}", {"fields": S2_PAPER_FIELDS}, what=s2_id, ttl=7 * DAY)
    return _full_abstract(s2_paper(data) or {}, data)


def _full_abstract(paper: dict, raw: dict) -> dict:
    if raw.get("abstract"):
        paper["abstract"] = " ".join(raw["abstract"].split())
    return paper


def _add_citation_counts(ctx: ToolContext, papers: list[dict]) -> None:
    """One batch lookup of citation counts for arXiv/HF results; best effort, never fails the search."""
    ids = [f"arXiv:{p['id']}" for p in papers if p.get("id")]
    if not ids or len(ids) != len(papers):
        return
    try:
        resp = http_for(ctx).post_json(
            S2_API + "/paper/batch",
            {"ids": ids},
            {"fields": "citationCount,externalIds"},
            headers=_s2_headers(),
            retries=0,  # an extra, not worth waiting for
        )
        data = resp.json() if resp.ok else None
    except ToolError:
        return
    if not isinstance(data, list) or len(data) != len(papers):
        return
    for paper, item in zip(papers, data, strict=True):  # the batch answers position by position
        if isinstance(item, dict) and item.get("citationCount") is not None:
            paper["citations"] = item["citationCount"]


# -- arXiv ------------------------------------------------------------------------------------------


def _arxiv_get(
    ctx: ToolContext, params: dict[str, Any], ttl: float, abstract_chars: int | None = 400
) -> dict:
    resp = http_for(ctx).get(ARXIV_API, params, ttl=ttl)
    if resp.status >= 500 or resp.status == 429:
        raise ServiceError(f"arXiv is failing (HTTP {resp.status}); try again later", resp.status)
    # A 400 comes as an error feed ("incorrect id format for …"), which the parser turns into a ToolError.
    return parse_arxiv_feed(resp.text, abstract_chars=abstract_chars)


def _search_arxiv(ctx: ToolContext, query: str, limit: int, sort: str) -> dict:
    params = {
        "search_query": arxiv_search_query(query),
        "start": 0,
        "max_results": limit,
        "sortBy": "submittedDate" if sort == "date" else "relevance",
        "sortOrder": "descending",
    }
    return _arxiv_get(ctx, params, ttl=6 * HOUR)


def _describe_arxiv_paper(ctx: ToolContext, arxiv_id: str, s2: dict, notes: list[str]) -> dict:
    """Merge what arXiv (authoritative title/authors/abstract), Hugging Face (summary, code link) and
    Semantic Scholar (citations, venue) know; any one of them is enough."""
    arxiv: dict = {}
    arxiv_error = None
    try:
        feed = _arxiv_get(ctx, {"id_list": arxiv_id, "max_results": 1}, ttl=7 * DAY, abstract_chars=None)
        arxiv = feed["papers"][0] if feed["papers"] else {}
    except ToolError as exc:
        arxiv_error = str(exc)
    hf = _hf_paper(ctx, arxiv_id)
    if not (arxiv or hf or s2):
        raise ToolError(
            arxiv_error
            or f"no paper {arxiv_id!r} on arXiv; check the id (e.g. '2305.18290') or search_papers()"
        )
    if not arxiv:
        notes.append(f"arXiv metadata unavailable ({arxiv_error or 'no entry'}); details from other sources")
    merged = {**{k: v for k, v in hf.items() if k not in ("url", "source", "comments", "keywords")}, **s2}
    merged.update({k: v for k, v in arxiv.items() if v not in (None, "", [])})
    for key in ("citations", "venue", "doi"):
        if s2.get(key) is not None:
            merged[key] = s2[key]
    merged["id"] = arxiv_id
    return merged


def _arxiv_html(ctx: ToolContext, arxiv_id: str, notes: list[str]):
    try:
        resp = http_for(ctx).get(f"https://arxiv.org/html/{arxiv_id}", ttl=30 * DAY, retries=1)
    except Unreachable as exc:
        notes.append(f"full text unavailable: {exc}")
        return None
    if resp.status == 404:
        notes.append("arXiv has no HTML rendering of this paper (older or non-LaTeX submissions)")
        return None
    if not resp.ok:
        notes.append(f"full text unavailable (arXiv HTML answered HTTP {resp.status})")
        return None
    doc = parse_paper_html(resp.text)
    if not doc.sections:
        notes.append("arXiv's HTML rendering of this paper has no recognisable sections")
        return None
    return doc


# -- Hugging Face papers --------------------------------------------------------------------------


def _search_hf(ctx: ToolContext, query: str, limit: int, *, daily: bool) -> dict:
    http = http_for(ctx)
    if daily:
        resp = http.get(HF_API + "/daily_papers", {"limit": 50}, ttl=HOUR)
    else:
        resp = http.get(HF_API + "/papers/search", {"q": query, "limit": limit}, ttl=6 * HOUR)
    if not resp.ok:
        raise ServiceError(
            f"Hugging Face papers answered HTTP {resp.status}: {resp.error_message()}", resp.status
        )
    items = resp.json()
    if not isinstance(items, list):
        raise ToolError("Hugging Face papers returned an unexpected shape; try source='arxiv'")
    papers = [hf_paper(item) for item in items if isinstance(item, dict)]
    if daily:
        papers = _filter_daily(papers, query)
    return {"total": len(papers), "papers": papers[:limit]}


def _filter_daily(papers: list[dict], query: str) -> list[dict]:
    terms = [t.lower() for t in query.split() if len(t) > 2]
    if not terms:
        return sorted(papers, key=lambda p: p.get("upvotes") or 0, reverse=True)
    scored = []
    for p in papers:
        hay = " ".join([p.get("title", ""), p.get("abstract", ""), " ".join(p.get("keywords", []))]).lower()
        score = sum(t in hay for t in terms)
        if score:
            scored.append((score, p.get("upvotes") or 0, p))
    scored.sort(key=lambda t: (t[0], t[1]), reverse=True)
    return [p for _, _, p in scored]


def _hf_paper(ctx: ToolContext, arxiv_id: str) -> dict:
    """The paper's Hugging Face page data (AI summary, code link, upvotes), when it has one; best effort."""
    try:
        resp = http_for(ctx).get(f"{HF_API}/papers/{arxiv_id}", ttl=DAY, retries=0)
        data = resp.json() if resp.ok else None
    except ToolError:
        return {}
    if not isinstance(data, dict):
        return {}
    return hf_paper(data, abstract_chars=None)


# -- helpers ---------------------------------------------------------------------------------------


def _finish_search(query: str, source: str, result: dict, note: str | None) -> dict:
    out = {"query": query, "source": source, "total": result.get("total"), "papers": result["papers"]}
    if not result["papers"]:
        out["note"] = (note + "; " if note else "") + "no papers found; try other words or another source"
    elif note:
        out["note"] = note
    return out
