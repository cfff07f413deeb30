"""Parsers for the paper APIs the research tools call: arXiv (Atom), Semantic Scholar (JSON), Hugging Face.

Each parser turns one real response shape (see tests/fixtures/http) into compact plain dicts sized for an
LLM's context: a title, a short author list, a year, a citation count, a clipped abstract and an id the
other tools accept. No network here; `papers.py` fetches and calls these.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from .base import ToolError

ATOM = "{http://www.w3.org/2005/Atom}"
ARXIV = "{http://arxiv.org/schemas/atom}"
OPENSEARCH = "{http://a9.com/-/spec/opensearch/1.1/}"

ARXIV_API = "https://export.arxiv.org/api/query"
S2_API = "https://api.semanticscholar.org/graph/v1"
HF_API = "https://huggingface.co/api"

# New-style (2007+) and old-style (archive/1234567) arXiv identifiers, with an optional version.
_NEW_ID = r"\d{4}\.\d{4,5}(?:v\d+)?"
_OLD_ID = r"[a-z][a-z\-]+(?:\.[A-Z]{2})?/\d{7}(?:v\d+)?"
ARXIV_ID = re.compile(rf"^(?:{_NEW_ID}|{_OLD_ID})$")
_ARXIV_IN_TEXT = re.compile(
    rf"(?:arxiv\.org/(?:abs|pdf|html)/|huggingface\.co/papers/|arxiv:)\s*({_NEW_ID}|{_OLD_ID})", re.I
)
S2_HEX_ID = re.compile(r"^[0-9a-f]{40}$")
S2_PREFIXES = ("doi:", "corpusid:", "mag:", "acl:", "pmid:", "pmcid:", "url:", "dblp:")

ABSTRACT_CHARS = 400
MAX_AUTHORS = 4


def clip(text: str | None, limit: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def author_line(names: list[str], limit: int = MAX_AUTHORS) -> str:
    names = [n for n in names if n]
    if len(names) <= limit:
        return ", ".join(names)
    return ", ".join(names[:limit]) + f" et al. ({len(names)} authors)"


def strip_version(arxiv_id: str) -> str:
    return re.sub(r"v\d+$", "", arxiv_id)


def parse_paper_id(raw: str) -> tuple[str, str]:
    """Classify what the agent passed: ("arxiv", id) | ("s2", id) | ("title", text).

    Accepts `2312.07559`, `arXiv:2312.07559v2`, arXiv/HF paper URLs, Semantic Scholar ids (40 hex),
    prefixed ids (`DOI:…`, `CorpusId:…`), a bare DOI, or a paper title.
    """
    if not isinstance(raw, str) or not raw.strip():
        raise ToolError(
            "paper_id must be a non-empty string: an arXiv id like '2305.18290', 'DOI:…' or a title"
        )
    text = raw.strip()
    if ARXIV_ID.match(text):
        return "arxiv", strip_version(text)
    m = _ARXIV_IN_TEXT.search(text)
    if m:
        return "arxiv", strip_version(m.group(1))
    low = text.lower()
    m = re.match(r"^(?:doi:)?10\.48550/arxiv\.(.+)$", low)  # arXiv's own DOIs name the arXiv id
    if m and ARXIV_ID.match(m.group(1)):
        return "arxiv", strip_version(m.group(1))
    if S2_HEX_ID.match(low) or low.startswith(S2_PREFIXES):
        return "s2", text
    if low.startswith("10.") and "/" in text and " " not in text:
        return "s2", "DOI:" + text
    if "semanticscholar.org/paper/" in low:
        return "s2", text.rstrip("/").rsplit("/", 1)[-1]
    return "title", text


# -- arXiv ----------------------------------------------------------------------------------------


def arxiv_search_query(query: str) -> str:
    """Turn free text into arXiv's query syntax (terms ANDed over all fields); pass field syntax through."""
    if re.search(r"\b(?:ti|au|abs|co|jr|cat|rn|id|all):|\b(?:AND|OR|ANDNOT)\b", query):
        return query
    terms = [t for t in re.findall(r"[\w\-]+", query) if len(t) > 1 or t.isdigit()]
    if not terms:
        raise ToolError("the search query has no words in it")
    return " AND ".join(f"all:{t}" for t in terms[:10])


def parse_arxiv_feed(xml_text: str, *, abstract_chars: int | None = ABSTRACT_CHARS) -> dict[str, Any]:
    """Parse an arXiv API Atom feed (current and pre-2025 formats). Raises ToolError for an error feed."""
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as exc:
        raise ToolError(f"arXiv returned a response that is not a feed ({exc}); try again later") from None
    total_text = root.findtext(f"{OPENSEARCH}totalResults")
    entries = root.findall(f"{ATOM}entry")
    papers = []
    for entry in entries:
        entry_id = (entry.findtext(f"{ATOM}id") or "").strip()
        title = clip(entry.findtext(f"{ATOM}title"), 300)
        summary = entry.findtext(f"{ATOM}summary") or ""
        if "/api/errors" in entry_id or title == "Error":
            raise ToolError(f"arXiv rejected the request: {clip(summary, 200)}")
        papers.append(_arxiv_entry(entry, entry_id, title, summary, abstract_chars))
    total = int(total_text) if total_text and total_text.strip().isdigit() else len(papers)
    return {"total": total, "papers": papers}


def _arxiv_entry(
    entry: ET.Element, entry_id: str, title: str, summary: str, abstract_chars: int | None
) -> dict:
    full_id = entry_id.rsplit("/abs/", 1)[-1]
    links = {}
    for link in entry.findall(f"{ATOM}link"):
        kind = link.get("title") or ("abs" if link.get("rel") == "alternate" else link.get("rel"))
        if kind and link.get("href"):
            links[kind] = link.get("href")
    primary = entry.find(f"{ARXIV}primary_category")
    categories = [c.get("term") for c in entry.findall(f"{ATOM}category") if c.get("term")]
    published = (entry.findtext(f"{ATOM}published") or "")[:10]
    abstract = " ".join(summary.split())
    paper = {
        "id": strip_version(full_id),
        "version": full_id[len(strip_version(full_id)) :] or None,
        "title": title,
        "authors": author_line(
            [a.findtext(f"{ATOM}name") or "" for a in entry.findall(f"{ATOM}author")],
            MAX_AUTHORS if abstract_chars else 20,  # a full record (read_paper) names more authors
        ),
        "published": published or None,
        "year": int(published[:4]) if published[:4].isdigit() else None,
        "categories": ([primary.get("term")] if primary is not None else [])
        + [c for c in categories if primary is None or c != primary.get("term")],
        "abstract": clip(abstract, abstract_chars) if abstract_chars else abstract,
        "url": links.get("abs") or f"https://arxiv.org/abs/{full_id}",
        "pdf": links.get("pdf"),
        "source": "arxiv",
    }
    for tag, key in (("comment", "comment"), ("journal_ref", "journal_ref"), ("doi", "doi")):
        value = entry.findtext(f"{ARXIV}{tag}")
        if value:
            paper[key] = clip(value, 200)
    return paper


# -- Semantic Scholar -------------------------------------------------------------------------------

S2_PAPER_FIELDS = (
    "title,abstract,authors,year,venue,externalIds,citationCount,url,publicationDate,openAccessPdf"
)
S2_LINK_FIELDS = "title,year,authors,venue,externalIds,citationCount,isInfluential"


def s2_paper(
    item: dict[str, Any] | None, *, abstract_chars: int | None = ABSTRACT_CHARS
) -> dict[str, Any] | None:
    """One Semantic Scholar paper object → a compact record (None stays None: batch misses)."""
    if not isinstance(item, dict):
        return None
    ext = item.get("externalIds") or {}
    arxiv_id = ext.get("ArXiv")
    paper: dict[str, Any] = {
        "id": arxiv_id
        or item.get("paperId")
        or (f"CorpusId:{ext['CorpusId']}" if ext.get("CorpusId") else None),
        "title": clip(item.get("title"), 300),
    }
    if item.get("paperId"):
        paper["s2_id"] = item["paperId"]
    if arxiv_id:
        paper["arxiv_id"] = arxiv_id
    if ext.get("DOI"):
        paper["doi"] = ext["DOI"]
    if item.get("authors") is not None:
        paper["authors"] = author_line([a.get("name", "") for a in item["authors"] if isinstance(a, dict)])
    for key in ("year", "venue", "citationCount", "publicationDate"):
        if item.get(key) not in (None, ""):
            paper[{"citationCount": "citations", "publicationDate": "published"}.get(key, key)] = item[key]
    if item.get("abstract"):
        paper["abstract"] = (
            clip(item["abstract"], abstract_chars) if abstract_chars else " ".join(item["abstract"].split())
        )
    pdf = (item.get("openAccessPdf") or {}).get("url")
    if pdf:
        paper["pdf"] = pdf
    if item.get("url"):
        paper["url"] = item["url"]
    paper["source"] = "semantic_scholar"
    return paper


def parse_s2_search(data: dict[str, Any]) -> dict[str, Any]:
    """`/paper/search` ({total, offset, next, data}) and `/paper/search/match` ({data: [{…, matchScore}]})."""
    papers = [p for p in (s2_paper(item) for item in data.get("data") or []) if p]
    return {"total": data.get("total", len(papers)), "next": data.get("next"), "papers": papers}


def parse_s2_links(data: dict[str, Any], direction: str) -> dict[str, Any]:
    """`/paper/{id}/citations` (items carry `citingPaper`) or `/references` (`citedPaper`)."""
    key = "citingPaper" if direction == "citing" else "citedPaper"
    papers = []
    for item in data.get("data") or []:
        paper = s2_paper(item.get(key))
        if paper is None:
            continue
        if not paper.get("s2_id") and not paper.get("arxiv_id"):
            paper["id"] = None  # S2 knows only the reference string; the paper can't be opened further
        if item.get("isInfluential") is not None:
            paper["influential"] = bool(item["isInfluential"])
        if item.get("intents"):
            paper["intents"] = item["intents"]
        contexts = item.get("contexts") or []
        if contexts:
            paper["context"] = clip(contexts[0], 240)
        papers.append(paper)
    return {"offset": data.get("offset", 0), "next": data.get("next"), "papers": papers}


# -- Hugging Face papers ---------------------------------------------------------------------------


def hf_paper(item: dict[str, Any], *, abstract_chars: int | None = ABSTRACT_CHARS) -> dict[str, Any]:
    """A daily-papers / paper-search item (`{"paper": {...}, ...}`) or a flat `/api/papers/{id}` body."""
    paper = item.get("paper") if isinstance(item.get("paper"), dict) else item
    arxiv_id = paper.get("id") or item.get("id")
    published = (paper.get("publishedAt") or item.get("publishedAt") or "")[:10]
    summary = paper.get("summary") or item.get("summary") or ""
    out: dict[str, Any] = {
        "id": arxiv_id,
        "title": clip(paper.get("title") or item.get("title"), 300),
        "authors": author_line(
            [a.get("name", "") for a in paper.get("authors") or [] if isinstance(a, dict)]
        ),
        "published": published or None,
        "year": int(published[:4]) if published[:4].isdigit() else None,
        "upvotes": paper.get("upvotes"),
        "abstract": clip(summary, abstract_chars) if abstract_chars else " ".join(summary.split()),
    }
    if paper.get("ai_summary"):
        out["tldr"] = clip(paper["ai_summary"], 300)
    if paper.get("ai_keywords"):
        out["keywords"] = paper["ai_keywords"][:10]
    for src, dst in (
        ("githubRepo", "github"),
        ("projectPage", "project_page"),
        ("githubStars", "github_stars"),
    ):
        if paper.get(src):
            out[dst] = paper[src]
    if item.get("numComments"):
        out["comments"] = item["numComments"]
    out["url"] = f"https://huggingface.co/papers/{arxiv_id}"
    out["source"] = "hf"
    return {k: v for k, v in out.items() if v not in (None, "", [])}
