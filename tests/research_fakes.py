"""Test doubles for the remote services the research and Hub tools call (and nothing else).

- `RecordedTransport` serves the recorded API responses in tests/fixtures/http through the real `Http`
  layer (caching, retries, error handling all run for real).
- `FakeHubApi` stands in for `huggingface_hub.HfApi`: search results are built with the real
  `ModelInfo`/`DatasetInfo` parsers from recorded JSON, and every call is recorded.
- `Approver` is the approvals double ToolGate asks for sensitive tools.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import intern_tui.tools.hub  # noqa: F401  (registers search_hub, inspect_dataset)
import intern_tui.tools.papers  # noqa: F401  (registers search_papers, read_paper, paper_citations)
import intern_tui.tools.planning  # noqa: F401  (registers plan)
import intern_tui.tools.publish  # noqa: F401  (registers push_to_hub)
from intern_tui.bus import Emitter, EventBus
from intern_tui.tools.base import ToolContext, ToolGate
from intern_tui.tools.http import Http, Request, Response

HTTP_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "http"
DATA = Path(__file__).resolve().parent / "data"


def fixture_bytes(name: str) -> bytes:
    return (HTTP_FIXTURES / name).read_bytes()


def fixture_json(name: str) -> Any:
    return json.loads(fixture_bytes(name))


@dataclass
class Route:
    method: str
    pattern: str  # a regex searched in the full URL
    status: int
    body: bytes
    headers: dict[str, str]


class RecordedTransport:
    """Answers requests from a routing table; the first matching route wins; routes can be one-shot."""

    def __init__(self) -> None:
        self.routes: list[tuple[Route, int | None]] = []
        self.requests: list[Request] = []

    def add(
        self,
        pattern: str,
        fixture: str | None = None,
        *,
        status: int = 200,
        body: bytes | str | None = None,
        method: str = "GET",
        times: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> RecordedTransport:
        data = (
            fixture_bytes(fixture) if fixture else (body.encode() if isinstance(body, str) else body or b"")
        )
        self.routes.append((Route(method, pattern, status, data, headers or {}), times))
        return self

    def fail(self, pattern: str, exc: Exception, times: int | None = None) -> RecordedTransport:
        self.routes.append((Route("ANY", pattern, -1, b"", {"_raise": exc}), times))  # type: ignore[dict-item]
        return self

    def __call__(self, request: Request) -> Response:
        self.requests.append(request)
        for i, (route, times) in enumerate(self.routes):
            if route.method not in (request.method, "ANY") or not re.search(route.pattern, request.url):
                continue
            if times is not None:
                if times <= 0:
                    continue
                self.routes[i] = (route, times - 1)
            if "_raise" in route.headers:
                raise route.headers["_raise"]  # type: ignore[misc]
            return Response(route.status, route.body, request.url, dict(route.headers))
        raise OSError(f"no recorded response for {request.method} {request.url}")

    def urls(self, contains: str = "") -> list[str]:
        return [r.url for r in self.requests if contains in r.url]


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


class Approver:
    """Approves (or denies) every request and remembers what was asked."""

    def __init__(self, approve: bool = True, reason: str | None = None):
        self.approve = approve
        self.reason = reason
        self.requests: list[tuple[str, dict, dict]] = []

    def request(self, tool: str, arguments: dict, estimate: dict, pinned=None):
        self.requests.append((tool, dict(arguments), dict(estimate)))
        status = "approved" if self.approve else "denied"
        return SimpleNamespace(approved=self.approve, status=status, edited=None, reason=self.reason)


def hub_error(cls_name: str, status: int, url: str = "https://huggingface.co/api/x"):
    """A real huggingface_hub HTTP error (they need an httpx response)."""
    import httpx
    from huggingface_hub import errors

    response = httpx.Response(status, request=httpx.Request("GET", url))
    return getattr(errors, cls_name)(f"{status} error for {url}", response=response)


class FakeHubApi:
    """Records calls; answers from recorded Hub JSON through huggingface_hub's own info classes."""

    def __init__(
        self,
        token: str | None = "fake-token-for-tests",
        repos: dict[str, bool] | None = None,
        datasets: list[dict] | None = None,
    ):
        self.token = token
        self.repos = dict(repos or {})  # repo_id -> private
        self.datasets = datasets or []
        self.calls: list[tuple[str, dict]] = []

    def list_models(self, **kwargs):
        from huggingface_hub import ModelInfo

        self.calls.append(("list_models", kwargs))
        return (
            ModelInfo(**item) for item in fixture_json("hf_models_search_expand.json")[: kwargs.get("limit")]
        )

    def model_info(self, repo_id, **kwargs):
        from huggingface_hub import ModelInfo

        self.calls.append(("model_info", {"repo_id": repo_id, **kwargs}))
        data = fixture_json("hf_model_info.json")
        if repo_id != data["id"]:
            raise hub_error("RepositoryNotFoundError", 404)
        return ModelInfo(**data)

    def list_datasets(self, **kwargs):
        from huggingface_hub import DatasetInfo

        self.calls.append(("list_datasets", kwargs))
        return (DatasetInfo(**item) for item in self.datasets[: kwargs.get("limit")])

    def dataset_info(self, repo_id, **kwargs):
        from huggingface_hub import DatasetInfo

        self.calls.append(("dataset_info", {"repo_id": repo_id, **kwargs}))
        for item in self.datasets:
            if item["id"] == repo_id:
                return DatasetInfo(**item)
        raise hub_error("RepositoryNotFoundError", 404)

    def repo_info(self, repo_id, repo_type=None, **kwargs):
        self.calls.append(("repo_info", {"repo_id": repo_id, "repo_type": repo_type}))
        if repo_id not in self.repos:
            raise hub_error("RepositoryNotFoundError", 404)
        return SimpleNamespace(id=repo_id, private=self.repos[repo_id])

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", {"repo_id": repo_id, **kwargs}))
        self.repos.setdefault(repo_id, kwargs.get("private"))
        return SimpleNamespace(repo_id=repo_id, url=f"https://huggingface.co/{repo_id}")

    def upload_file(self, **kwargs):
        self.calls.append(("upload_file", kwargs))
        return SimpleNamespace(commit_url=f"https://huggingface.co/{kwargs['repo_id']}/commit/abc123")

    def upload_folder(self, **kwargs):
        self.calls.append(("upload_folder", kwargs))
        return SimpleNamespace(commit_url=f"https://huggingface.co/{kwargs['repo_id']}/commit/def456")

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


class Session:
    """A tool context on a real bus and emitter, its gate, and the events it produced."""

    def __init__(
        self,
        workspace: Path,
        *,
        transport: RecordedTransport | None = None,
        hub_api: Any = None,
        approvals: Any = None,
        clock: Clock | None = None,
    ):
        self.bus = EventBus()
        self.sub = self.bus.subscribe("test")
        self.emitter = Emitter(self.bus, "sess-test")
        self.transport = transport or RecordedTransport()
        self.sleeps: list[float] = []
        self.http = Http(
            workspace / ".cache" / "http",
            self.transport,
            offline=False,
            clock=clock or Clock(),
            sleep=self.sleeps.append,
        )
        self.ctx = ToolContext(
            "sess-test", workspace, self.emitter, approvals=approvals, hub_api=hub_api, http=self.http
        )
        self.gate = ToolGate(self.ctx)
        self.events: list = []

    def call(self, name: str, *args, **kwargs):
        return self.gate.invoke(name, args, kwargs)

    def drain(self) -> list:
        self.events.extend(self.sub.drain())
        return self.events

    def kinds(self) -> list[str]:
        return [e.kind for e in self.drain()]
