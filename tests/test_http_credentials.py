"""Requests that carry a token: only to allow-listed https hosts, and never replayed across origins.

The redirect checks run the real urllib transport against HTTP servers on 127.0.0.1 (two ports are two
origins)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from intern_tui.tools.base import ToolError
from intern_tui.tools.http import Http, Request, origin, token_host_allowed, urllib_transport

TOKEN = "hf_CredentialCanaryAbCdEfGhIjKlMnOp"


class _Server:
    """Records every request's path and Authorization header; /go?to=URL redirects there."""

    def __init__(self):
        seen = self.seen = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                seen.append((self.path, self.headers.get("Authorization")))
                if self.path.startswith("/go?to="):
                    self.send_response(302)
                    self.send_header("Location", self.path.split("=", 1)[1])
                    self.end_headers()
                    return
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def servers():
    a, b = _Server(), _Server()
    yield a, b
    a.close()
    b.close()


def _get(url: str, token: str | None = None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return urllib_transport(Request("GET", url, headers, timeout=5))


def test_a_token_is_not_carried_to_another_origin(servers):
    a, b = servers
    resp = _get(f"{a.base}/go?to={b.base}/steal", TOKEN)
    assert resp.status == 302  # not followed: the caller sees the redirect
    assert b.seen == []


def test_a_token_follows_a_redirect_on_the_same_origin(servers):
    a, _ = servers
    resp = _get(f"{a.base}/go?to={a.base}/next", TOKEN)
    assert resp.status == 200
    assert a.seen[-1] == ("/next", f"Bearer {TOKEN}")


def test_public_requests_follow_redirects_anywhere(servers):
    a, b = servers
    resp = _get(f"{a.base}/go?to={b.base}/public")
    assert resp.status == 200 and b.seen == [("/public", None)]


def test_origin_compares_scheme_host_and_port():
    assert origin("https://huggingface.co/x") == origin("https://HuggingFace.co:443/y")
    assert origin("https://huggingface.co/x") != origin("http://huggingface.co/x")
    assert origin("https://huggingface.co/x") != origin("https://huggingface.co:8443/x")


def test_tokens_go_only_to_allow_listed_https_hosts():
    assert token_host_allowed("https://datasets-server.huggingface.co/rows")
    assert token_host_allowed("https://api.semanticscholar.org/graph/v1/paper/x")
    assert not token_host_allowed("http://huggingface.co/api")  # plain http
    assert not token_host_allowed("https://huggingface.co.evil.example/api")
    assert not token_host_allowed("https://evil.example/?huggingface.co")
    sent = []
    http = Http(transport=lambda r: sent.append(r), offline=False)
    with pytest.raises(ToolError, match="refusing to send a credential to evil.example"):
        http.get("https://evil.example/x", headers={"x-api-key": "k" * 20})
    assert sent == []
