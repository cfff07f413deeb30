"""A small HTTP client for the research and Hub tools: timeouts, retries, a disk cache, clear offline errors.

Built on the standard library (urllib) so it adds no dependency and costs nothing at startup. The network
itself is a `Transport` — a callable `(Request) -> Response` — so tests inject recorded responses and
never touch a socket. Successful GET responses are cached under the session workspace
(`.cache/http/<sha256 of the URL>.json`) for a TTL; when the network is unreachable an expired entry is
served rather than nothing ("continue from what you have").

Secrets: request headers (API keys, HF tokens) are never written to the cache, returned or logged; the
cache key is the URL only, and no tool puts a secret in a URL. A request that carries a credential goes
only to an allow-listed host (`TOKEN_HOSTS`) and follows a redirect only to the same scheme, host and port;
a redirect anywhere else comes back as the 3xx response instead (the token is never replayed to it).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .base import ToolError

USER_AGENT = "intern-tui/0.1 (research tools)"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Headers that carry a credential, and the hosts (with their subdomains) that may receive one.
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "x-api-key", "cookie"})
TOKEN_HOSTS = ("huggingface.co", "hf.co", "api.semanticscholar.org")
DEFAULT_TTL = 24 * 3600.0
MAX_BACKOFF = 30.0


@dataclass
class Request:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    timeout: float = 20.0


@dataclass
class Response:
    status: int
    body: bytes
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    from_cache: bool = False
    stale: bool = False  # served from an expired cache entry because the network was unreachable

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            raise ToolError(
                f"{host_of(self.url)} sent a response that is not JSON (HTTP {self.status})"
            ) from None

    def error_message(self) -> str:
        """The server's own error text (`{"error": ...}` bodies), else the start of the body."""
        try:
            data = json.loads(self.body)
        except ValueError:
            data = None
        if isinstance(data, dict):
            for key in ("error", "message", "detail"):
                if isinstance(data.get(key), str):
                    return data[key]
        text = " ".join(self.text.split())
        return text[:300] or f"HTTP {self.status}"


Transport = Callable[[Request], Response]


class Unreachable(ToolError):
    """The service could not be reached (offline, DNS, refused, timed out) and nothing was cached."""


def host_of(url: str) -> str:
    return urllib.parse.urlsplit(url).hostname or url


def offline_message(url: str) -> str:
    return f"cannot reach {host_of(url)} (offline?) — try again later or continue from what you have"


def is_offline_env() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port filled in."""
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    return parts.scheme.lower(), (parts.hostname or "").lower(), port or default


def has_credentials(headers: dict[str, str]) -> bool:
    return any(name.lower() in CREDENTIAL_HEADERS for name in headers)


def token_host_allowed(url: str, allowed: tuple[str, ...] = TOKEN_HOSTS) -> bool:
    scheme, host, _ = origin(url)
    return scheme == "https" and any(host == h or host.endswith("." + h) for h in allowed)


class _CredentialSafeRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects of public requests; a request that carries a credential is followed only to the
    same scheme, host and port, else the 3xx comes back to the caller (never its token to another origin)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        carries = has_credentials(dict(req.header_items()))
        if carries and origin(newurl) != origin(req.full_url):
            return None  # urllib then raises HTTPError for the 3xx: the caller sees where it pointed
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_CredentialSafeRedirects())


def urllib_transport(request: Request) -> Response:
    """The real network. HTTP error statuses come back as Responses; only failures to connect raise."""
    req = urllib.request.Request(
        request.url, data=request.body, method=request.method, headers=request.headers
    )
    try:
        with _OPENER.open(req, timeout=request.timeout) as resp:
            return Response(
                resp.status, resp.read(), resp.geturl(), {k.lower(): v for k, v in resp.headers.items()}
            )
    except urllib.error.HTTPError as exc:
        body = exc.read() if exc.fp is not None else b""
        return Response(exc.code, body, request.url, {k.lower(): v for k, v in (exc.headers or {}).items()})


class Http:
    """GET/POST with retries on 429/5xx/connection errors, a TTL'd disk cache and an offline switch.

    - `offline`: None reads `HF_HUB_OFFLINE` at each call (the project's one offline switch); True/False fix it.
    - `clock` and `sleep` are injectable so tests control cache expiry and never wait for a backoff.
    """

    def __init__(
        self,
        cache_dir: Path | None = None,
        transport: Transport | None = None,
        *,
        retries: int = 2,
        backoff: float = 1.0,
        timeout: float = 20.0,
        offline: bool | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        token_hosts: tuple[str, ...] = TOKEN_HOSTS,
    ):
        self.cache_dir = cache_dir
        self.token_hosts = token_hosts
        self.transport = transport or urllib_transport
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.offline = offline
        self.clock = clock
        self.sleep = sleep
        self.network_calls = 0  # how many requests reached the transport (tests and the status line read it)

    @classmethod
    def for_workspace(cls, workspace: Path, **kwargs: Any) -> Http:
        return cls(Path(workspace) / ".cache" / "http", **kwargs)

    # -- public API -------------------------------------------------------------------------------

    def get(
        self,
        url: str,
        params: dict[str, Any] | None = None,
        *,
        headers: dict[str, str] | None = None,
        ttl: float | None = DEFAULT_TTL,
        retries: int | None = None,
    ) -> Response:
        """GET `url` (+ query `params`). Cached 2xx responses younger than `ttl` seconds are reused
        (`ttl=None` or 0 disables the cache for this call). HTTP errors come back as Responses."""
        full = with_params(url, params)
        cached = self._cache_read(full)
        if cached is not None and ttl and self.clock() - cached[0] < ttl:
            return cached[1]
        try:
            resp = self._send(Request("GET", full, self._headers(headers)), retries)
        except Unreachable:
            if cached is not None:  # expired but better than nothing while offline
                cached[1].stale = True
                return cached[1]
            raise
        if resp.ok and ttl:
            self._cache_write(full, resp)
        return resp

    def post_json(
        self,
        url: str,
        payload: Any,
        params: dict[str, Any] | None = None,
        *,
        headers: dict[str, str] | None = None,
        retries: int | None = None,
    ) -> Response:
        """POST a JSON body (not cached: POSTs are lookups keyed by their body)."""
        body = json.dumps(payload).encode()
        hdrs = self._headers({"Content-Type": "application/json", **(headers or {})})
        return self._send(Request("POST", with_params(url, params), hdrs, body), retries)

    def is_offline(self) -> bool:
        return is_offline_env() if self.offline is None else self.offline

    # -- internals --------------------------------------------------------------------------------

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        return {"User-Agent": USER_AGENT, "Accept-Encoding": "identity", **(extra or {})}

    def _send(self, request: Request, retries: int | None) -> Response:
        if has_credentials(request.headers) and not token_host_allowed(request.url, self.token_hosts):
            raise ToolError(
                f"refusing to send a credential to {host_of(request.url)}: tokens go only to "
                + ", ".join(self.token_hosts)
                + " over https"
            )
        if self.is_offline():
            raise Unreachable(offline_message(request.url) + " [HF_HUB_OFFLINE is set]")
        request.timeout = self.timeout
        attempts = 1 + (self.retries if retries is None else retries)
        last_error: str | None = None
        resp: Response | None = None
        for attempt in range(attempts):
            if attempt:
                self.sleep(self._delay(attempt, resp))
            try:
                self.network_calls += 1
                resp = self.transport(request)
            except (OSError, http.client.HTTPException) as exc:  # URLError and timeouts are OSErrors
                last_error, resp = str(exc), None
                continue
            if resp.status not in RETRY_STATUSES:
                return resp
        if resp is not None:
            return resp  # the last 429/5xx: callers turn the server's message into a ToolError
        raise Unreachable(offline_message(request.url) + (f" [{last_error}]" if last_error else ""))

    def _delay(self, attempt: int, resp: Response | None) -> float:
        retry_after = (resp.headers.get("retry-after") if resp is not None else None) or ""
        if retry_after.strip().isdigit():
            return min(float(retry_after), MAX_BACKOFF)
        return min(self.backoff * 2 ** (attempt - 1), MAX_BACKOFF)

    def _cache_path(self, url: str) -> Path | None:
        if self.cache_dir is None:
            return None
        return self.cache_dir / (hashlib.sha256(url.encode()).hexdigest()[:32] + ".json")

    def _cache_read(self, url: str) -> tuple[float, Response] | None:
        path = self._cache_path(url)
        if path is None or not path.is_file():
            return None
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
            if entry.get("url") != url:
                return None
            resp = Response(
                entry["status"], entry["body"].encode("utf-8"), url, entry.get("headers", {}), True
            )
            return float(entry["fetched_at"]), resp
        except (OSError, ValueError, KeyError, TypeError):
            return None  # a damaged entry is a miss, not an error

    def _cache_write(self, url: str, resp: Response) -> None:
        path = self._cache_path(url)
        if path is None:
            return
        entry = {
            "url": url,
            "status": resp.status,
            "fetched_at": self.clock(),
            "headers": {k: v for k, v in resp.headers.items() if k in ("content-type",)},
            "body": resp.body.decode("utf-8", errors="replace"),
        }
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(entry), encoding="utf-8")
            os.replace(tmp, path)
        except OSError:
            pass  # caching is an optimisation; a read-only workspace must not fail the call


def with_params(url: str, params: dict[str, Any] | None) -> str:
    if not params:
        return url
    clean = {k: v for k, v in params.items() if v is not None}
    sep = "&" if "?" in url else "?"
    return url + sep + urllib.parse.urlencode(clean, doseq=True)


def http_for(ctx: Any) -> Http:
    """The session's Http: the injected one (tests) or a real one caching under the workspace."""
    if getattr(ctx, "http", None) is None:
        ctx.http = Http.for_workspace(ctx.workspace)
    return ctx.http
