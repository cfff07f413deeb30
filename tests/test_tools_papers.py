"""Research tools against recorded arXiv / Semantic Scholar / Hugging Face responses, called through ToolGate."""

from __future__ import annotations

import json

import pytest
from research_fakes import DATA, RecordedTransport, Session, fixture_json

from intern_tui.tools.base import ToolError
from intern_tui.tools.paper_sources import parse_arxiv_feed, parse_paper_id
from intern_tui.tools.papers import _add_citation_counts

S2 = r"api\.semanticscholar\.org/graph/v1"
ARXIV_Q = r"export\.arxiv\.org/api/query\?"
HTML_SAMPLE = (DATA / "arxiv_html_latexml_sample.html").read_bytes()


@pytest.fixture
def t():
    return RecordedTransport()


def session(tmp_path, transport, **kw) -> Session:
    return Session(tmp_path / "ws", transport=transport, **kw)


def last_result(s: Session) -> dict:
    return [e for e in s.drain() if e.kind == "tool_result"][-1].payload


# -- search_papers --------------------------------------------------------------------------------


def test_search_semantic_scholar_rich_results_are_compact(tmp_path, t, monkeypatch):
    monkeypatch.delenv("S2_API_KEY", raising=False)
    t.add(S2 + r"/paper/search\?", "s2_paper_search_rich_fields.json")
    s = session(tmp_path, t)
    out = s.call("search_papers", "transformer", limit=5)
    assert out["source"] == "semantic_scholar" and out["total"] == 360715
    first = out["papers"][0]
    assert first["id"] == "2103.14030"  # the arXiv id, usable by read_paper
    assert first["title"].startswith("Swin Transformer")
    assert first["authors"].startswith("Ze Liu, Yutong Lin, Yue Cao, Han Hu et al. (8 authors)")
    assert first["year"] == 2021 and first["pdf"] == "http://arxiv.org/pdf/2103.14030"
    assert len(first["abstract"]) <= 400
    url = t.requests[0].url
    assert "query=transformer" in url and "limit=5" in url and "fields=title%2Cabstract" in url
    assert "x-api-key" not in t.requests[0].headers
    assert s.kinds() == ["tool_call", "tool_result"]
    assert last_result(s)["result"]["papers"][0]["id"] == "2103.14030"


def test_search_sends_the_s2_key_without_ever_showing_it(tmp_path, t, monkeypatch):
    monkeypatch.setenv("S2_API_KEY", "s2-key-abcdef123456")
    t.add(S2 + r"/paper/search\?", "s2_paper_search.json")
    s = session(tmp_path, t)
    out = s.call("search_papers", "turing", source="semantic_scholar")
    assert t.requests[0].headers["x-api-key"] == "s2-key-abcdef123456"
    assert out["papers"][0] == {
        "id": "7cbc2a7843411a1768ab762930707af0a3c33a19",
        "title": "Using DeepSpeed and Megatron to Train Megatron-Turing NLG 530B, A Large-Scale Generative Language Model",
        "s2_id": "7cbc2a7843411a1768ab762930707af0a3c33a19",
        "source": "semantic_scholar",
    }
    assert "s2-key-abcdef123456" not in json.dumps([e.payload for e in s.drain()])


def test_auto_falls_back_to_arxiv_when_semantic_scholar_rate_limits(tmp_path, t):
    t.add(S2 + r"/paper/search\?", status=429, body='{"message": "Too Many Requests"}')
    t.add(ARXIV_Q + r".*search_query=all%3Atesting", "arxiv_query_search_testing_10entries.xml")
    t.add(S2 + r"/paper/batch", "s2_paper_batch_post.json", method="POST")  # 4 answers for 10 ids: ignored
    s = session(tmp_path, t)
    out = s.call("search_papers", "testing", limit=10)
    assert out["source"] == "arxiv" and out["total"] == 214881 and len(out["papers"]) == 10
    assert "rate-limiting" in out["note"] and "S2_API_KEY" in out["note"]
    first = out["papers"][0]
    assert first["id"] == "2202.12139" and first["version"] == "v1"
    assert first["categories"][0] == "cs.SE" and first["doi"] == "10.1109/ICSTW55395.2022.00035"
    assert "citations" not in first, "a batch answer that does not line up is not trusted"
    assert s.sleeps, "the 429 was retried with backoff before falling back"


def test_arxiv_results_get_citation_counts_from_one_batch_call(tmp_path, t):
    batch = fixture_json("s2_paper_batch_post.json")
    t.add(ARXIV_Q, "arxiv_query_id_list_single.xml")
    t.add(S2 + r"/paper/batch", body=json.dumps([batch[1]]), method="POST")
    s = session(tmp_path, t)
    out = s.call("search_papers", "heat-bath random walks", source="arxiv")
    assert out["papers"][0]["citations"] == 10670
    post = [r for r in t.requests if r.method == "POST"][0]
    assert json.loads(post.body) == {"ids": ["arXiv:1605.08386"]}


def test_batch_answers_are_matched_by_position_and_nulls_skipped():
    papers = [{"id": f"2401.0000{i}"} for i in range(4)]
    ctx = type("Ctx", (), {})()
    t = RecordedTransport().add(r"/paper/batch", "s2_paper_batch_post.json", method="POST")
    from intern_tui.tools.http import Http

    ctx.http = Http(None, t, offline=False)
    _add_citation_counts(ctx, papers)
    assert [p.get("citations") for p in papers] == [None, 10670, 2185, 0]


def test_arxiv_date_sort_and_current_feed(tmp_path, t):
    t.add(ARXIV_Q + r".*sortBy=submittedDate", "arxiv_query_search_cs_lg_5entries.xml")
    t.add(S2 + r"/paper/batch", status=429, body="{}", method="POST")
    s = session(tmp_path, t)
    out = s.call("search_papers", "all:transformer AND cat:cs.LG", sort="date", limit=5)
    assert out["source"] == "arxiv" and out["total"] == 28946
    assert [p["id"] for p in out["papers"]][:2] == ["2606.13677", "2606.13591"]
    assert out["papers"][0]["categories"][:2] == ["cs.RO", "cs.AI"]
    assert "search_query=all%3Atransformer+AND+cat%3Acs.LG" in t.urls("arxiv")[0]


def test_legacy_arxiv_feed_with_old_style_ids(tmp_path, t):
    t.add(ARXIV_Q, "arxiv_query_search_2entries_legacy2016.xml")
    t.add(S2 + r"/paper/batch", status=500, body="{}", method="POST")
    s = session(tmp_path, t)
    out = s.call("search_papers", 'au:del_maestro AND ti:"quantum criticality"', source="arxiv")
    ids = [p["id"] for p in out["papers"]]
    assert ids == ["1111.2011", "cond-mat/0607501"]
    second = out["papers"][1]
    assert second["title"].startswith("A striped supersolid phase") and "\n" not in second["title"]
    assert second["journal_ref"] == "Phys. Rev. B 74, 214517 (2006)" and second["pdf"].endswith("0607501v2")


def test_hf_daily_papers_filtered_by_query(tmp_path, t):
    t.add(r"huggingface\.co/api/daily_papers", "hf_daily_papers_limit30.json")
    t.add(S2 + r"/paper/batch", status=429, body="{}", method="POST")
    s = session(tmp_path, t)
    out = s.call("search_papers", "adversarial robustness jailbreak", source="hf_daily")
    assert out["papers"][0]["id"] == "2606.11409"
    assert out["papers"][0]["github"] == "https://github.com/r-three/risk-under-pressure"
    assert out["papers"][0]["tldr"].startswith("Compute-aware evaluation")
    everything = s.call("search_papers", "", source="hf_daily", limit=25)
    upvotes = [p.get("upvotes", 0) for p in everything["papers"]]
    assert upvotes == sorted(upvotes, reverse=True) and len(everything["papers"]) == 25


def test_hf_paper_search_parses_daily_paper_shaped_items(tmp_path, t):
    # /api/papers/search answers with the same item shape as daily papers (huggingface_hub parses both
    # with PaperInfo); no recorded search body exists, so the daily-papers recording stands in.
    t.add(r"huggingface\.co/api/papers/search\?q=LLM", "hf_daily_papers_limit30.json")
    t.add(S2 + r"/paper/batch", status=429, body="{}", method="POST")
    s = session(tmp_path, t)
    out = s.call("search_papers", "LLM", source="hf", limit=3)
    assert [p["id"] for p in out["papers"]] == ["2606.00467", "2606.12730", "2606.13594"]
    assert out["papers"][0]["authors"] == "Etienne Casanova, Rafal Kocielnik, R. Michael Alvarez"


def test_search_argument_errors_are_one_clear_line(tmp_path, t):
    s = session(tmp_path, t)
    with pytest.raises(ToolError, match="unknown source"):
        s.call("search_papers", "x", source="google")
    with pytest.raises(ToolError, match="query is empty"):
        s.call("search_papers", "  ")
    assert t.requests == []


def test_offline_search_tells_the_agent_what_to_do(tmp_path, t):
    s = session(tmp_path, t)
    s.http.offline = True
    with pytest.raises(ToolError) as err:
        s.call("search_papers", "dpo")
    assert "cannot reach export.arxiv.org (offline?)" in str(err.value)
    assert "continue from what you have" in str(err.value)
    assert last_result(s)["error"] == str(err.value)
    assert t.requests == []


# -- read_paper -------------------------------------------------------------------------------------


def test_read_paper_contents_from_arxiv_html(tmp_path, t):
    t.add(ARXIV_Q + r".*id_list=2606\.11409", "arxiv_query_id_list_no_results.xml")
    t.add(r"huggingface\.co/api/papers/2606\.11409", "hf_paper_details.derived_from_daily_papers.json")
    t.add(r"arxiv\.org/html/2606\.11409", body=HTML_SAMPLE)
    s = session(tmp_path, t)
    out = s.call("read_paper", "https://huggingface.co/papers/2606.11409")
    assert out["id"] == "2606.11409"
    assert out["title"].startswith("Risk Under Pressure")  # from the HF page: arXiv had no entry
    assert out["github"] == "https://github.com/r-three/risk-under-pressure" and out["upvotes"] == 8
    assert out["abstract"].startswith("Adversarial robustness evaluations") and len(out["abstract"]) > 1000
    assert out["sections"][:3] == ["Abstract (61 chars)", "1 Introduction (96 chars)", "2 Method (72 chars)"]
    assert "  2.1 Hyperparameters (91 chars)" in out["sections"]
    assert "arXiv metadata unavailable" in out["note"]


def test_read_paper_section_text(tmp_path, t):
    t.add(ARXIV_Q, "arxiv_query_id_list_single.xml")
    t.add(r"huggingface\.co/api/papers/", status=404, body='{"error": "Not Found"}')
    t.add(r"arxiv\.org/html/1605\.08386", body=HTML_SAMPLE)
    s = session(tmp_path, t)
    out = s.call("read_paper", "arXiv:1605.08386v1", section="2")
    assert out["title"] == "Heat-bath random walks with Markov bases"
    assert out["authors"] == "Caprice Stanley, Tobias Windisch"
    assert out["section"] == "2 Method" and "abstract" not in out
    assert out["text"].startswith("## 2 Method\nThe loss compares")
    assert "## 2.1 Hyperparameters" in out["text"] and r"$\beta=0.1$" in out["text"]
    assert "| 0.1 | 5e-7" in out["text"] and "## 3 Experiments" not in out["text"]
    appendix = s.call("read_paper", "1605.08386", section="Appendix A")
    assert appendix["text"].startswith("## Appendix A Derivations\nThe optimal policy")
    intro = s.call("read_paper", "1605.08386", section="introduction")
    assert "FOOTNOTE-BODY" not in intro["text"] and "We show a simpler way." in intro["text"]
    short = s.call("read_paper", "1605.08386", section="all", max_chars=500)
    assert len(short["text"]) < 700 and "[cut:" in short["text"]
    with pytest.raises(
        ToolError, match=r"no section 'Results' in 1605.08386; sections: Abstract, 1 Introduction"
    ):
        s.call("read_paper", "1605.08386", section="Results")
    assert len(t.urls("arxiv.org/html")) == 1, "the HTML page is fetched once and cached"


def test_read_paper_without_html_falls_back_to_the_abstract(tmp_path, t):
    t.add(ARXIV_Q, "arxiv_query_id_list_single.xml")
    t.add(r"huggingface\.co/api/papers/", status=404, body='{"error": "Not Found"}')
    t.add(r"arxiv\.org/html/", status=404, body="<html>No HTML for '1605.08386'</html>")
    s = session(tmp_path, t)
    out = s.call("read_paper", "1605.08386", section="Method")
    assert out["abstract"].startswith("Graphs on lattice points") and out["abstract"].endswith(
        "fixed dimension."
    )
    assert out["sections"] is None and out["text"] is None
    assert "no HTML rendering" in out["note"] and "https://arxiv.org/pdf/1605.08386v1" in out["note"]
    assert out["comment"] == "20 pages, 3 figures"


def test_read_paper_by_semantic_scholar_id_follows_to_arxiv(tmp_path, t):
    t.add(S2 + r"/paper/CorpusId:266191420\?", "s2_paper_details_arxiv_doi.json")
    t.add(ARXIV_Q + r".*id_list=2312\.07559", "arxiv_query_id_list_no_results.xml")
    t.add(r"huggingface\.co/api/papers/", status=404, body="{}")
    t.add(r"arxiv\.org/html/2312\.07559", status=404, body="")
    s = session(tmp_path, t)
    out = s.call("read_paper", "CorpusId:266191420")
    assert out["id"] == "2312.07559"
    assert out["title"].startswith("PaperQA") and out["citations"] == 111 and out["venue"] == "arXiv.org"
    assert out["authors"].startswith("Jakub L'ala, Odhran O'Donoghue")


def test_arxiv_dois_are_read_as_arxiv_ids():
    assert parse_paper_id("DOI:10.48550/arXiv.2312.07559") == ("arxiv", "2312.07559")
    assert parse_paper_id("https://arxiv.org/pdf/2305.18290v3") == ("arxiv", "2305.18290")
    assert parse_paper_id("hep-th/9901001v1") == ("arxiv", "hep-th/9901001")
    assert parse_paper_id("10.1145/3292500.3330701") == ("s2", "DOI:10.1145/3292500.3330701")
    assert parse_paper_id("Attention is all you need")[0] == "title"


def test_read_paper_by_title_uses_the_best_match(tmp_path, t):
    t.add(S2 + r"/paper/search/match\?query=Mining", "s2_paper_search_match.json")
    s = session(tmp_path, t)
    out = s.call("read_paper", "Mining association rules between sets of items")
    assert out["title"] == "Mining association rules between sets of items in large databases"
    assert out["id"] == "6fe8c5bf8dddaadf10c765133d38dfef5714347f"
    assert out["sections"] is None and "no arXiv id" in out["note"]


def test_unknown_and_malformed_ids_are_clear_errors(tmp_path, t):
    t.add(S2 + r"/paper/DOI:10\.1101", "s2_paper_not_found_404.json", status=404)
    t.add(S2 + r"/paper/CorpusId:1\?", "s2_paper_bad_fields_400.json", status=400)
    t.add(ARXIV_Q + r".*id_list=0000\.0000", "arxiv_query_id_list_no_results.xml")
    t.add(ARXIV_Q + r".*id_list=2301\.99999", "arxiv_query_id_list_malformed_400.xml", status=400)
    t.add(r"huggingface\.co/api/papers/", status=404, body="{}")
    s = session(tmp_path, t)
    with pytest.raises(ToolError, match=r"Semantic Scholar has no paper 'DOI:10.1101/2024.04.01.587366'"):
        s.call("read_paper", "DOI:10.1101/2024.04.01.587366")
    with pytest.raises(
        ToolError, match=r"rejected the request \(HTTP 400\): Unrecognized or unsupported fields"
    ):
        s.call("read_paper", "CorpusId:1")
    with pytest.raises(ToolError, match=r"no paper '0000.0000' on arXiv"):
        s.call("read_paper", "0000.0000")
    with pytest.raises(ToolError, match="arXiv rejected the request: incorrect id format for abc"):
        s.call("read_paper", "2301.99999")
    errors = [e.payload for e in s.drain() if e.kind == "tool_result"]
    assert len(errors) == 4 and all("error" in p for p in errors)


def test_arxiv_error_feed_parser():
    from research_fakes import fixture_bytes

    with pytest.raises(ToolError, match="incorrect id format for abc"):
        parse_arxiv_feed(fixture_bytes("arxiv_query_id_list_malformed_400.xml").decode())
    assert parse_arxiv_feed(fixture_bytes("arxiv_query_id_list_no_results.xml").decode()) == {
        "total": 0,
        "papers": [],
    }
    with pytest.raises(ToolError, match="not a feed"):
        parse_arxiv_feed("<html>busy</html")


# -- paper_citations -------------------------------------------------------------------------------


def test_citing_papers_first_page(tmp_path, t):
    t.add(S2 + r"/paper/CorpusID:14514057/citations\?", "s2_paper_citations_page1.json")
    s = session(tmp_path, t)
    out = s.call("paper_citations", "CorpusID:14514057", limit=15)
    assert out["direction"] == "citing" and out["fetched"] == 100 and out["next_offset"] == 100
    assert len(out["papers"]) == 15
    assert out["papers"][0]["id"] == "344e7fb2000d9063cbc9deb550e46946bafe3c90"
    assert "fields=title%2Cyear%2Cauthors" in t.requests[0].url and "limit=100" in t.requests[0].url


def test_references_of_an_arxiv_paper_including_unresolved_ones(tmp_path, t):
    t.add(S2 + r"/paper/arXiv:2305\.18290/references\?.*offset=50", "s2_paper_references_last_page.json")
    t.add(S2 + r"/paper/arXiv:2305\.18290/references\?", "s2_paper_references_page1.json")
    s = session(tmp_path, t)
    page1 = s.call("paper_citations", "2305.18290", direction="references", limit=50)
    assert page1["fetched"] == 50 and page1["next_offset"] == 50
    assert page1["papers"][0]["title"].startswith("Group lending or individual lending?")
    assert "offset" not in t.requests[0].url
    last = s.call("paper_citations", "2305.18290", direction="refs", limit=50, offset=50)
    assert last["fetched"] == 17 and last["next_offset"] is None
    assert sum(p["id"] is None for p in last["papers"]) == 13
    assert "reference strings" in last["note"]


def test_rich_citation_items_rank_influential_first(tmp_path, t):
    cite = fixture_json("s2_citation_item_rich_fields.json")
    ref = fixture_json("s2_reference_item_rich_fields.json")
    plain = {"citingPaper": {"paperId": "f" * 40, "title": "A plain citing paper", "citationCount": 5000}}
    t.add(r"/citations\?", body=json.dumps({"offset": 0, "data": [plain, cite]}))
    t.add(r"/references\?", body=json.dumps({"offset": 0, "data": [ref]}))
    s = session(tmp_path, t)
    citing = s.call("paper_citations", "1810.04805")
    first = citing["papers"][0]
    assert first["title"] == "Learning to Throw With a Handful of Samples Using Decision Transformers"
    assert first["influential"] is True and first["intents"] == ["result", "background", "methodology"]
    assert first["context"].startswith("RP is implemented by fixing the release position")
    refs = s.call("paper_citations", "1810.04805", direction="references")
    assert refs["papers"][0]["id"] == "1402.0030" and refs["papers"][0]["citations"] == 707


def test_bad_direction(tmp_path, t):
    s = session(tmp_path, t)
    with pytest.raises(ToolError, match="direction must be 'citing'"):
        s.call("paper_citations", "2305.18290", direction="sideways")


def test_auto_tries_arxiv_when_semantic_scholar_finds_nothing(tmp_path, t):
    t.add(S2 + r"/paper/search\?", body='{"total": 0, "offset": 0, "data": []}')
    t.add(ARXIV_Q, "arxiv_query_id_list_single.xml")
    t.add(S2 + r"/paper/batch", status=429, body="{}", method="POST")
    s = session(tmp_path, t)
    out = s.call("search_papers", "heat-bath random walks markov bases")
    assert out["source"] == "arxiv" and out["papers"][0]["id"] == "1605.08386"
    assert out["note"] == "Semantic Scholar found nothing; results from arXiv"
