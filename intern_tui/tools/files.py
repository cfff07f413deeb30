"""Workspace files: the only file access agent code has, confined to the session's workspace
(`intern_tui/workspace.py` holds the confinement and the versioning)."""

from __future__ import annotations

import os
from pathlib import Path

from ..workspace import Workspace
from .base import ToolContext, ToolError, agent_tool

MAX_READ_CHARS = 60_000


def _workspace(ctx: ToolContext) -> Workspace:
    ws = ctx.settings.get("workspace_obj")
    if ws is None:
        ws = ctx.settings["workspace_obj"] = Workspace(ctx.workspace)
    return ws


@agent_tool(output_type="string")
def read_file(
    ctx: ToolContext, path: str, start_line: int | None = None, max_lines: int | None = None
) -> str:
    """Read a text file from the session workspace.

    Args:
        path: Path relative to the workspace, e.g. 'train_sft.py' or 'jobs/job-1/log.txt'.
        start_line: First line to return (1-based); default the start of the file.
        max_lines: Return at most this many lines.
    """
    text = _workspace(ctx).read_text(path)
    if start_line or max_lines:
        lines = text.splitlines(keepends=True)
        begin = max((start_line or 1) - 1, 0)
        text = "".join(lines[begin : begin + max_lines if max_lines else None])
    if len(text) > MAX_READ_CHARS:
        return (
            text[:MAX_READ_CHARS]
            + f"\n… [truncated: {len(text) - MAX_READ_CHARS} more characters; use start_line]"
        )
    return text


@agent_tool(output_type="object")
def write_file(ctx: ToolContext, path: str, content: str) -> dict:
    """Create or overwrite a text file in the session workspace. Each change is kept as a new version.

    Args:
        path: Path relative to the workspace, e.g. 'train_sft.py'. Parent folders are created.
        content: The full new content of the file.
    """
    return _workspace(ctx).write_text(ctx, path, content)


@agent_tool(output_type="object")
def edit_file(ctx: ToolContext, path: str, old: str, new: str, count: int = 1) -> dict:
    """Replace text in a workspace file (exact match), keeping the old version.

    Args:
        path: Path relative to the workspace.
        old: The exact text to replace; it must occur in the file.
        new: The replacement text.
        count: How many occurrences to replace (default 1; 0 replaces all). Fails if there are fewer.
    """
    ws = _workspace(ctx)
    text = ws.read_text(path)
    found = text.count(old) if old else 0
    if not found:
        raise ToolError(
            f"the text to replace was not found in {path!r}; read_file() it and copy the exact text"
        )
    if count and found < count:
        raise ToolError(f"{path!r} contains the text {found} time(s), fewer than count={count}")
    if count == 1 and found > 1:
        raise ToolError(
            f"the text occurs {found} times in {path!r}; include more context or pass count=0 for all"
        )
    return ws.write_text(ctx, path, text.replace(old, new, count if count else -1))


@agent_tool(output_type="array")
def list_files(ctx: ToolContext, path: str = ".") -> list:
    """List files in the workspace (recursively, skipping caches), with their sizes in bytes.

    Args:
        path: A folder relative to the workspace; default the whole workspace.
    """
    ws = _workspace(ctx)
    base = ws.root if path in (".", "", "./") else ws.resolve(path)
    if not base.is_dir():
        raise ToolError(f"{path!r} is not a folder in the workspace")
    out = []
    for root, dirs, files in os.walk(base):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in ("__pycache__", "checkpoints"))
        for name in sorted(files):
            p = Path(root) / name
            if name.startswith(".") or p.is_symlink():
                continue
            out.append({"path": ws.relative(p), "bytes": p.stat().st_size})
            if len(out) >= 500:
                out.append({"path": "… (more files not listed)", "bytes": 0})
                return out
    return out
