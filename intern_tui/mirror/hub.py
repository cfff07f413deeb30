"""The Hub side of the mirror: who the user is, the target dataset (created private, checked private before
every upload), atomic commits, and every failure turned into one line a user can act on.

The API object is injected: anything with the `huggingface_hub.HfApi` methods used here (whoami,
repo_info, repo_exists, create_repo, create_commit). The default is a real `HfApi`, imported lazily so
that nothing on the startup path pays for huggingface_hub.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from .settings import MirrorSettings

log = logging.getLogger(__name__)

LOGIN_HINT = "set HF_TOKEN or run `hf auth login`"
NO_TOKEN = f"no Hugging Face token: {LOGIN_HINT}"


class HubError(Exception):
    """A mirror failure as one clear line. `kind`: offline | auth | permission | wrong_type | refused |
    not_found | server | error. `permanent`: retrying soon can't help; the user has to act."""

    def __init__(self, kind: str, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.permanent = permanent


def default_api() -> Any:
    from huggingface_hub import HfApi  # lazy: see module docstring

    return HfApi()


def classify(exc: BaseException, repo: str | None = None) -> HubError:
    """Map what huggingface_hub (or the network) raised to a HubError."""
    if isinstance(exc, HubError):
        return exc
    where = f"datasets/{repo}" if repo else "the Hub"
    name = type(exc).__name__
    if name == "LocalTokenNotFoundError":
        return HubError("auth", NO_TOKEN, permanent=True)
    if name == "OfflineModeIsEnabled":
        return HubError("offline", "offline (HF_HUB_OFFLINE=1)")
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if isinstance(status, int):
        if status == 401:
            return HubError("auth", f"the Hub rejected the token (401): {LOGIN_HINT}", permanent=True)
        if status == 403:
            return HubError(
                "permission",
                f"no permission to write to {where} (403): use a token with write access or set [mirror] repo",
                permanent=True,
            )
        if status == 404 or name == "RepositoryNotFoundError":
            return HubError(
                "not_found", f"{where} not found, or this token cannot see it (404)", permanent=True
            )
        if status == 429 or status >= 500:
            return HubError("server", f"the Hub is unavailable or rate-limiting ({status}); will retry")
        return HubError("error", f"the Hub refused the upload ({status}): {_first_line(exc)}")
    if isinstance(exc, ConnectionError | TimeoutError) or type(exc).__module__.startswith(
        ("httpx", "httpcore")
    ):
        return HubError("offline", f"offline: cannot reach the Hub ({name})")
    return HubError("error", f"{name}: {_first_line(exc)}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines() or [""])[0][:300]


class HubTarget:
    """The dataset the mirror writes to. Methods block on the network: call them from the uploader thread
    or a command, never from the UI thread."""

    def __init__(
        self, settings: MirrorSettings, api: Any = None, api_factory: Callable[[], Any] = default_api
    ):
        self.settings = settings
        self._api = api
        self._api_factory = api_factory
        self.repo: str | None = None
        self.private: bool | None = None  # as last seen

    @property
    def api(self) -> Any:
        if self._api is None:
            self._api = self._api_factory()
        return self._api

    def resolve(self) -> str:
        """The target repo id. Asks the Hub who the user is (once), which also proves a token is there."""
        if self.repo is None:
            try:
                user = self.api.whoami()
            except Exception as exc:
                raise classify(exc) from exc
            name = user.get("name") if isinstance(user, dict) else None
            if not name:
                raise HubError("auth", f"cannot tell which Hub user this token belongs to; {NO_TOKEN}")
            self.repo = self.settings.target_for(name)
        return self.repo

    def check(self, repo: str) -> Any:
        """Make sure the dataset exists (created private) and is private; returns its info.

        Called before every upload: a repo made public between two uploads stops the very next one."""
        try:
            info = self._info(repo)
        except HubError as err:
            if err.kind != "not_found":
                raise
            self._refuse_other_type(repo)
            try:
                self.api.create_repo(repo, repo_type="dataset", private=True, exist_ok=True)
            except Exception as exc:
                raise classify(exc, repo) from exc
            log.info("created private dataset %s for the mirror", repo)
            info = self._info(repo)
        private = getattr(info, "private", None)
        self.private = private
        if private is not True and not self.settings.allow_public:
            why = "repo is public" if private is False else "cannot confirm the repo is private"
            raise HubError(
                "refused",
                f"refused: {why} (datasets/{repo}); make it private on the Hub or allow it with --allow-public",
                permanent=True,
            )
        return info

    def commit(self, repo: str, files: list[tuple[str, bytes]], message: str) -> None:
        """All files in one atomic commit: either every file lands or none does."""
        from huggingface_hub import CommitOperationAdd

        operations = [CommitOperationAdd(path_in_repo=path, path_or_fileobj=data) for path, data in files]
        try:
            self.api.create_commit(repo, operations, commit_message=message, repo_type="dataset")
        except Exception as exc:
            raise classify(exc, repo) from exc

    def visibility(self, repo: str) -> str:
        """For `mirror status`: private | public | missing | unknown (reason). Never creates anything."""
        try:
            info = self._info(repo)
        except HubError as err:
            if err.kind == "not_found":
                return "does not exist yet (it will be created private)"
            return f"unknown ({err.message})"
        private = getattr(info, "private", None)
        return "private" if private is True else "PUBLIC" if private is False else "unknown"

    def _info(self, repo: str) -> Any:
        try:
            return self.api.repo_info(repo, repo_type="dataset")
        except Exception as exc:
            raise classify(exc, repo) from exc

    def _refuse_other_type(self, repo: str) -> None:
        for kind in ("model", "space"):
            try:
                exists = self.api.repo_exists(repo, repo_type=kind)
            except Exception as exc:
                raise classify(exc, repo) from exc
            if exists:
                raise HubError(
                    "wrong_type",
                    f"{repo} exists as a {kind} repo, not a dataset: set [mirror] repo to a dataset name",
                    permanent=True,
                )
