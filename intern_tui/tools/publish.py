"""Publishing: `push_to_hub` uploads a workspace file or folder to a Hugging Face Hub repo.

It is a sensitive tool: it runs only after approval (the estimate names the file count, size, target and
visibility), uploads only from the workspace and never follows symlinks, creates repos private by
default, refuses to add to an existing PUBLIC repo unless `private=False` was given, and refuses files
that contain a secret (a known secret value from the environment or a token-shaped string).
"""

from __future__ import annotations

import fnmatch
import os
import re
from pathlib import Path
from typing import Any

from ..redact import TOKEN_SHAPES, default_redactor
from ..workspace import Workspace
from .base import ToolContext, ToolError, agent_tool
from .hub import HUB, REPO_ID, hub_api, hub_call, hub_token

UPLOAD_IGNORE = [
    ".cache/**",
    "**/.cache/**",
    "__pycache__/**",
    "**/__pycache__/**",
    "checkpoint-*/**",
    "*.tmp",
    "**/*.tmp",
]
SECRET_SCAN_BYTES = 2_000_000
_SECRET_SHAPES = re.compile("|".join(TOKEN_SHAPES))


def _push_estimate(ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
    files, total = _manifest(Workspace(ctx.workspace), arguments["path"])
    private = arguments.get("private", True)
    return {
        "gpu_hours": 0,
        "usd": 0,
        "summary": f"upload {len(files)} files ({_size(total)}) to {arguments['repo_id']} "
        f"({'private' if private else 'PUBLIC'})",
    }


def _pin_push(ctx: ToolContext, arguments: dict[str, Any]):
    """The approval fingerprints what would be uploaded; the upload sends exactly that, or nothing."""
    from .pinning import pin_upload

    files, _ = _manifest(Workspace(ctx.workspace), arguments["path"])
    return pin_upload(ctx.workspace, arguments["path"], files)


@agent_tool(sensitive=True, estimate=_push_estimate, output_type="object", pin=_pin_push)
def push_to_hub(
    ctx: ToolContext,
    path: str,
    repo_id: str,
    private: bool = True,
    repo_type: str = "model",
    commit_message: str | None = None,
    path_in_repo: str | None = None,
    pinned: Any = None,
) -> dict:
    """Upload a workspace file or folder (a trained model, a dataset, a model card) to a Hub repo.

    Args:
        path: File or folder in the workspace, e.g. 'outputs/final' or 'data/train.jsonl'.
        repo_id: Target repo, 'user/name' (or 'name' for your own namespace).
        private: Create the repo private (default). Uploading to an existing public repo needs private=False.
        repo_type: 'model' or 'dataset'.
        commit_message: The commit message; default names the session.
        path_in_repo: Where to put it in the repo; default the file's name, or the repo root for a folder.
    """
    if repo_type not in ("model", "dataset"):
        raise ToolError("repo_type must be 'model' or 'dataset'")
    if not isinstance(repo_id, str) or not REPO_ID.match(repo_id.strip()):
        raise ToolError(f"repo_id {repo_id!r} is not a valid Hub repo id ('user/name')")
    repo_id = repo_id.strip()
    ws = Workspace(ctx.workspace)
    target = ws.resolve(path)
    files, total = _manifest(ws, path)
    if pinned is not None:
        if pinned.path != path:
            raise ToolError(f"{path!r} is not what this approval pinned ({pinned.path!r})")
        pinned.verify(ctx.workspace, files)
    _refuse_secrets(ctx, files)
    api = hub_api(ctx)
    if not hub_token(api):
        raise ToolError(
            "not logged in to the Hugging Face Hub: set HF_TOKEN or run `hf auth login`, then retry"
        )
    existing = hub_call(lambda: api.repo_info(repo_id, repo_type=repo_type), not_found_ok=True)
    if existing is not None and getattr(existing, "private", None) is False and private:
        raise ToolError(
            f"{repo_id} is a PUBLIC {repo_type} repo; nothing was uploaded. Pass private=False to upload to it "
            "on purpose, or choose another repo_id (new repos are created private)"
        )
    repo_url = hub_call(lambda: api.create_repo(repo_id, private=private, repo_type=repo_type, exist_ok=True))
    full_id = getattr(repo_url, "repo_id", None) or repo_id
    message = commit_message or f"Upload {ws.relative(target)} (intern-tui session {ctx.session_id})"
    if target.is_dir():
        commit = hub_call(
            lambda: api.upload_folder(
                folder_path=str(target),
                path_in_repo=path_in_repo,
                repo_id=full_id,
                repo_type=repo_type,
                commit_message=message,
                ignore_patterns=UPLOAD_IGNORE,
                # exactly the files checked above: one that appears during the upload is not sent
                allow_patterns=[p.relative_to(target).as_posix() for p in files],
            )
        )
    else:
        commit = hub_call(
            lambda: api.upload_file(
                path_or_fileobj=str(target),
                path_in_repo=path_in_repo or target.name,
                repo_id=full_id,
                repo_type=repo_type,
                commit_message=message,
            )
        )
    is_private = existing.private if existing is not None else private
    prefix = "datasets/" if repo_type == "dataset" else ""
    return {
        "repo_id": full_id,
        "repo_type": repo_type,
        "private": bool(is_private),
        "url": f"{HUB}/{prefix}{full_id}",
        "files": len(files),
        "bytes": total,
        "commit": str(getattr(commit, "commit_url", None) or commit),
        "created": existing is None,
    }


def _manifest(ws: Workspace, path: str) -> tuple[list[Path], int]:
    """The files an upload of `path` would send (after UPLOAD_IGNORE) and their total size."""
    target = ws.resolve(path)
    if target.is_file():
        return [target], target.stat().st_size
    if not target.is_dir():
        raise ToolError(f"no file or folder {path!r} in the workspace (list_files() shows what exists)")
    files = []
    for root, dirs, names in os.walk(target):
        for name in dirs + names:
            p = Path(root) / name
            if p.is_symlink():
                raise ToolError(f"{ws.relative(p)} is a symlink; uploads never follow links, remove it first")
        for name in names:
            p = Path(root) / name
            rel = p.relative_to(target).as_posix()
            if not any(fnmatch.fnmatch(rel, pat) for pat in UPLOAD_IGNORE):
                files.append(p)
    if not files:
        raise ToolError(f"{path!r} has no files to upload")
    return files, sum(p.stat().st_size for p in files)


def _refuse_secrets(ctx: ToolContext, files: list[Path]) -> None:
    """Never publish a token: refuse files that contain a known secret value or a token-shaped string.
    Text of any size is read in overlapping chunks (a 3 GB log is scanned too); model weights are not text."""
    redactor = ctx.redactor or default_redactor()
    for p in files:
        if p.suffix in (".safetensors", ".bin", ".pt", ".parquet", ".gguf"):
            continue
        if _contains_secret(p, redactor.literals):
            raise ToolError(
                f"{Workspace(ctx.workspace).relative(p)} contains what looks like a secret (an API token); "
                "nothing was uploaded. Remove it (read it from the environment instead) and retry"
            )


def _contains_secret(path: Path, literals, chunk: int = SECRET_SCAN_BYTES, overlap: int = 4096) -> bool:
    tail = ""
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            text = tail + block.decode("utf-8", errors="ignore")
            if any(lit in text for lit in literals) or _SECRET_SHAPES.search(text):
                return True
            tail = text[-overlap:]
    return False


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"
