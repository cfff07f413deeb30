"""A stand-in for the Hugging Face Hub (the one remote service the mirror talks to), and session builders.

`FakeHub` has the `HfApi` methods the mirror uses and keeps its state in a directory, so a second process
(or a restarted mirror) sees the same "remote". It raises the real huggingface_hub exceptions. Failure
injection: `fail_commit` maps a create_commit call number (1-based) to a mode:
  "before"  raise a connection error, nothing applied (the request never reached the Hub)
  "after"   apply the commit, then raise (the Hub committed; the client lost the answer)
  "hang"    signal `entered`, block until `release` is set, then raise (a stalled connection)
and `offline = True` makes every call raise OfflineModeIsEnabled.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from types import SimpleNamespace

import httpx
from huggingface_hub.errors import (
    HfHubHTTPError,
    LocalTokenNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
)

from intern_tui.bus import Emitter


def http_error(status: int, cls=HfHubHTTPError, url: str = "https://huggingface.co/api/datasets/x/y"):
    response = httpx.Response(status, request=httpx.Request("GET", url))
    return cls(f"{status} Client Error", response=response)


class FakeHub:
    def __init__(self, root: Path, user: str | None = "alice"):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.user = user
        self.offline = False
        self.fail_commit: dict[int, str] = {}
        self.error_on: dict[str, Exception] = {}  # method name → exception to raise on every call
        self.entered = threading.Event()
        self.release = threading.Event()
        self.calls: list[str] = []

    # -- state on disk ------------------------------------------------------------------------------

    @property
    def _state_path(self) -> Path:
        return self.root / "state.json"

    def _state(self) -> dict:
        if self._state_path.exists():
            return json.loads(self._state_path.read_text())
        return {"repos": {}, "commits": []}

    def _save(self, state: dict) -> None:
        tmp = self._state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(self._state_path)

    def add_repo(self, repo_id: str, repo_type: str = "dataset", private: bool = True) -> None:
        state = self._state()
        state["repos"][f"{repo_type}:{repo_id}"] = {"private": private, "files": {}}
        self._save(state)

    def set_private(self, repo_id: str, private: bool) -> None:
        state = self._state()
        state["repos"][f"dataset:{repo_id}"]["private"] = private
        self._save(state)

    def files(self, repo_id: str) -> dict[str, bytes]:
        repo = self._state()["repos"].get(f"dataset:{repo_id}")
        if repo is None:
            return {}
        return {path: (self.root / "blobs" / name).read_bytes() for path, name in repo["files"].items()}

    def commits(self) -> list[dict]:
        """Each applied commit: {"repo", "message", "paths"}."""
        return self._state()["commits"]

    def repo_meta(self, repo_id: str, repo_type: str = "dataset") -> dict | None:
        return self._state()["repos"].get(f"{repo_type}:{repo_id}")

    # -- the HfApi surface ----------------------------------------------------------------------------

    def _enter(self, name: str) -> None:
        self.calls.append(name)
        if self.offline:
            raise OfflineModeIsEnabled("Cannot reach https://huggingface.co: offline mode is enabled.")
        if name in self.error_on:
            raise self.error_on[name]

    def whoami(self, token=None, **kw) -> dict:
        self._enter("whoami")
        if self.user is None:
            raise LocalTokenNotFoundError(
                "Token is required to call the /whoami-v2 endpoint, but no token found."
            )
        return {"name": self.user, "type": "user"}

    def repo_info(self, repo_id: str, *, repo_type: str | None = None, **kw):
        self._enter("repo_info")
        repo = self.repo_meta(repo_id, repo_type or "model")
        if repo is None:
            raise http_error(404, RepositoryNotFoundError)
        siblings = [SimpleNamespace(rfilename=p) for p in repo["files"]]
        return SimpleNamespace(id=repo_id, private=repo["private"], siblings=siblings)

    def repo_exists(self, repo_id: str, *, repo_type: str | None = None, **kw) -> bool:
        self._enter("repo_exists")
        return self.repo_meta(repo_id, repo_type or "model") is not None

    def create_repo(self, repo_id: str, *, repo_type=None, private=None, exist_ok=False, **kw):
        self._enter("create_repo")
        self.calls.append(f"create_repo:{repo_type}:private={private}")
        if self.repo_meta(repo_id, repo_type or "model") is None:
            self.add_repo(repo_id, repo_type or "model", private=bool(private))
        elif not exist_ok:
            raise http_error(409)
        return f"https://huggingface.co/datasets/{repo_id}"

    def create_commit(self, repo_id: str, operations, *, commit_message: str, repo_type=None, **kw):
        self._enter("create_commit")
        number = sum(1 for c in self.calls if c == "create_commit")
        mode = self.fail_commit.get(number)
        if mode == "before":
            raise httpx.ConnectError("connection reset by peer")
        if mode == "hang":
            self.entered.set()
            self.release.wait()
            raise httpx.ReadTimeout("the connection stalled")
        state = self._state()
        repo = state["repos"].get(f"{repo_type or 'model'}:{repo_id}")
        if repo is None:
            raise http_error(404, RepositoryNotFoundError)
        blobs = self.root / "blobs"
        blobs.mkdir(exist_ok=True)
        paths = []
        for op in operations:
            data = op.path_or_fileobj
            assert isinstance(data, bytes), "the mirror uploads bytes it has scrubbed"
            name = f"{len(list(blobs.iterdir()))}.bin"
            (blobs / name).write_bytes(data)
            repo["files"][op.path_in_repo] = name
            paths.append(op.path_in_repo)
        state["commits"].append({"repo": repo_id, "message": commit_message, "paths": paths})
        self._save(state)
        if mode == "after":
            raise httpx.ReadTimeout("the answer was lost")
        return SimpleNamespace(commit_url="https://huggingface.co/fake", oid=str(len(state["commits"])))

    def uploaded_bytes(self) -> list[bytes]:
        """Everything any commit ever sent (also bytes later overwritten)."""
        blobs = self.root / "blobs"
        return [p.read_bytes() for p in blobs.iterdir()] if blobs.exists() else []


def emit_session(em: Emitter, task: str = "fine-tune a tiny model", steps: int = 2, end: bool = True) -> None:
    """A realistic session through the real emitter: steps with thoughts, code, nested tool calls,
    an approval, logs and samples, a final answer."""
    em.emit("session_started", {"task": task, "model": "script:demo.jsonl", "max_steps": 10})
    em.emit("task", {"task": task})
    for step in range(1, steps + 1):
        em.emit("step_started", {"step": step}, step=step)
        em.emit(
            "model_output",
            {"text": f"Thought: step {step}\n```py\nx = {step}\n```", "thought": f"step {step}"},
            step=step,
        )
        em.emit(
            "code_action",
            {"code": f"job = launch_job(script='train_{step}.py')", "call_id": f"call_{step}"},
            step=step,
        )
        em.emit(
            "tool_call",
            {"call_id": f"{step}.1", "tool": "launch_job", "arguments": {"script": f"train_{step}.py"}},
            step=step,
        )
        em.emit(
            "approval_requested",
            {
                "id": f"ap{step}",
                "tool": "launch_job",
                "arguments": {"script": f"train_{step}.py"},
                "estimate": {"gpu_hours": 0.1},
            },
            step=step,
        )
        em.emit(
            "approval_decided",
            {
                "id": f"ap{step}",
                "tool": "launch_job",
                "decision": "approve",
                "status": "approved",
                "reason": None,
                "decided_by": "user",
            },
            step=step,
        )
        em.emit(
            "tool_result", {"call_id": f"{step}.1", "tool": "launch_job", "result": f"j{step}"}, step=step
        )
        em.emit("job_log", {"job_id": f"j{step}", "line": "{'loss': 1.23}"})
        em.emit("gpu_sample", {"gpus": []})
        em.emit("observation", {"text": f"j{step}", "error": None, "final": False}, step=step)
    em.emit("redirected", {"text": "use a smaller learning rate", "phase": "queued"})
    em.emit("redirected", {"text": "use a smaller learning rate", "phase": "delivered"})
    em.emit("alert", {"job_id": "j1", "kind": "loss_spike", "severity": "warning", "message": "loss jumped"})
    if end:
        final = steps + 1
        em.emit("model_output", {"text": "done", "thought": "All done."}, step=final)
        em.emit("code_action", {"code": "final_answer('trained')", "call_id": "call_final"}, step=final)
        em.emit("observation", {"text": "trained", "error": None, "final": True}, step=final)
        em.emit("final_answer", {"answer": "trained"}, step=final)
        em.emit("session_ended", {"status": "done"}, step=final)
