"""The HTTP layer under the research and Hub tools: cache, TTL, retries, offline errors, secrets."""

from __future__ import annotations

import json

import pytest
from research_fakes import Clock, RecordedTransport

from intern_tui.tools.base import ToolError
from intern_tui.tools.http import Http, Unreachable

S2_SEARCH = "https://api.semanticscholar.org/graph/v1/paper/search"


def make(tmp_path, transport, clock=None, **kw):
    sleeps: list[float] = []
    http = Http(
        tmp_path / ".cache" / "http",
        transport,
        offline=False,
        clock=clock or Clock(),
        sleep=sleeps.append,
        **kw,
    )
    return http, sleeps


def test_second_call_is_served_from_the_cache(tmp_path):
    transport = RecordedTransport().add(r"/paper/search\?", "s2_paper_search.json")
    http, _ = make(tmp_path, transport)
    first = http.get(S2_SEARCH, {"query": "turing"})
    second = http.get(S2_SEARCH, {"query": "turing"})
    assert first.json()["total"] == 70499 and not first.from_cache
    assert second.from_cache and second.json() == first.json()
    assert len(transport.requests) == 1
    assert list((tmp_path / ".cache" / "http").glob("*.json")), "the cache lives under the workspace"


def test_expired_entry_is_fetched_again(tmp_path):
    clock = Clock()
    transport = RecordedTransport().add(r"/paper/search\?", "s2_paper_search.json")
    http, _ = make(tmp_path, transport, clock)
    http.get(S2_SEARCH, {"query": "turing"}, ttl=60)
    clock.now += 59
    assert http.get(S2_SEARCH, {"query": "turing"}, ttl=60).from_cache
    clock.now += 2
    assert not http.get(S2_SEARCH, {"query": "turing"}, ttl=60).from_cache
    assert len(transport.requests) == 2


def test_different_params_are_different_entries(tmp_path):
    transport = RecordedTransport().add(r"/paper/search\?", "s2_paper_search.json")
    http, _ = make(tmp_path, transport)
    http.get(S2_SEARCH, {"query": "a"})
    http.get(S2_SEARCH, {"query": "b"})
    assert len(transport.requests) == 2


def test_retries_5xx_with_backoff_then_succeeds(tmp_path):
    transport = (
        RecordedTransport()
        .add(r"/splits", "datasets_server_error_not_ready.docexample.json", status=503, times=2)
        .add(r"/splits", "datasets_server_splits.docexample.json")
    )
    http, sleeps = make(tmp_path, transport, backoff=1.0)
    resp = http.get("https://datasets-server.huggingface.co/splits", {"dataset": "ibm/duorc"})
    assert resp.ok and resp.json()["splits"][0]["dataset"] == "ibm/duorc"
    assert len(transport.requests) == 3
    assert sleeps == [1.0, 2.0]


def test_gives_up_after_retries_and_returns_the_last_error_response(tmp_path):
    transport = RecordedTransport().add(
        r"/splits", "datasets_server_error_not_ready.docexample.json", status=500
    )
    http, sleeps = make(tmp_path, transport, retries=2)
    resp = http.get("https://datasets-server.huggingface.co/splits", {"dataset": "x/y"})
    assert resp.status == 500 and "busier than usual" in resp.error_message()
    assert len(transport.requests) == 3 and len(sleeps) == 2
    assert not list((tmp_path / ".cache" / "http").glob("*.json")), "errors are never cached"


def test_429_honours_retry_after(tmp_path):
    transport = (
        RecordedTransport()
        .add(
            r"/paper/search",
            status=429,
            body='{"message": "Too Many Requests"}',
            times=1,
            headers={"retry-after": "7"},
        )
        .add(r"/paper/search", "s2_paper_search.json")
    )
    http, sleeps = make(tmp_path, transport)
    assert http.get(S2_SEARCH, {"query": "q"}).ok
    assert sleeps == [7.0]


def test_connection_errors_are_retried_then_reported_as_offline(tmp_path):
    transport = RecordedTransport().fail(
        r"semanticscholar", OSError("[Errno -3] Temporary failure in name resolution")
    )
    http, sleeps = make(tmp_path, transport, retries=2)
    with pytest.raises(Unreachable) as err:
        http.get(S2_SEARCH, {"query": "q"})
    assert "cannot reach api.semanticscholar.org (offline?)" in str(err.value)
    assert "continue from what you have" in str(err.value)
    assert isinstance(err.value, ToolError)
    assert len(transport.requests) == 3


def test_offline_switch_fails_fast_without_touching_the_transport(tmp_path, monkeypatch):
    transport = RecordedTransport().add(r".", "s2_paper_search.json")
    http = Http(tmp_path / "c", transport)  # offline=None: reads HF_HUB_OFFLINE (set by conftest)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(Unreachable, match="cannot reach api.semanticscholar.org"):
        http.get(S2_SEARCH, {"query": "q"})
    assert transport.requests == []


def test_offline_serves_an_expired_cache_entry_marked_stale(tmp_path):
    clock = Clock()
    transport = RecordedTransport().add(r"/paper/search", "s2_paper_search.json", times=1)
    transport.fail(r"/paper/search", OSError("network is unreachable"))
    http, _ = make(tmp_path, transport, clock, retries=0)
    http.get(S2_SEARCH, {"query": "q"}, ttl=10)
    clock.now += 3600
    resp = http.get(S2_SEARCH, {"query": "q"}, ttl=10)
    assert resp.stale and resp.from_cache and resp.json()["total"] == 70499


def test_api_keys_are_sent_but_never_cached(tmp_path):
    transport = RecordedTransport().add(r"/paper/search", "s2_paper_search.json")
    http, _ = make(tmp_path, transport)
    http.get(S2_SEARCH, {"query": "q"}, headers={"x-api-key": "s2-secret-key-value-123"})
    assert transport.requests[0].headers["x-api-key"] == "s2-secret-key-value-123"
    for path in (tmp_path / ".cache" / "http").glob("*.json"):
        assert "s2-secret-key-value-123" not in path.read_text()


def test_post_is_not_cached_and_carries_json(tmp_path):
    transport = RecordedTransport().add(r"/paper/batch", "s2_paper_batch_post.json", method="POST")
    http, _ = make(tmp_path, transport)
    for _ in range(2):
        resp = http.post_json(
            "https://api.semanticscholar.org/graph/v1/paper/batch", {"ids": ["a"]}, {"fields": "title"}
        )
    assert len(transport.requests) == 2
    assert json.loads(transport.requests[0].body) == {"ids": ["a"]}
    assert transport.requests[0].url.endswith("?fields=title")
    assert resp.json()[0] is None


def test_damaged_cache_entry_is_a_miss(tmp_path):
    transport = RecordedTransport().add(r"/paper/search", "s2_paper_search.json")
    http, _ = make(tmp_path, transport)
    http.get(S2_SEARCH, {"query": "q"})
    for path in (tmp_path / ".cache" / "http").glob("*.json"):
        path.write_text("{not json")
    assert not http.get(S2_SEARCH, {"query": "q"}).from_cache
    assert len(transport.requests) == 2


def test_importing_the_tools_loads_no_heavy_library():
    import subprocess
    import sys

    code = (
        "import sys, intern_tui.tools.papers, intern_tui.tools.hub, intern_tui.tools.planning, intern_tui.tools.publish;"
        "print(sorted(m for m in ('huggingface_hub', 'pyarrow', 'datasets', 'httpx', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
