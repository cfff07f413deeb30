"""Workspace files: the only file access agent code has, confined to the session's workspace.

Every write that changes a file stores a new version and emits `file_written` with the full content (for
replay and the diff viewer, up to a size limit) and the unified diff against the previous version.
"""

from __future__ import annotations

import difflib
import errno
import hashlib
import os
import threading
from pathlib import Path, PurePosixPath

from ..events import Kind
from .base import ToolContext, ToolError, agent_tool

MAX_WRITE_BYTES = 5_000_000
MAX_STORED_CONTENT = 256_000  # larger files are versioned by hash only (their text stays on disk)
MAX_READ_CHARS = 60_000


class Workspace:
    """A directory the agent may read and write, and nothing outside it.

    Refuses absolute paths, `~`, `..` and any symlink on the way (so a link planted in the workspace can't
    point a write elsewhere); the final open uses O_NOFOLLOW as well.
    """

    def __init__(self, root: Path):
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.versions: dict[str, tuple[int, str | None]] = {}  # path -> (version, content if stored)
        self._lock = threading.Lock()

    def resolve(self, path: str) -> Path:
        if not isinstance(path, str) or not path.strip():
            raise ToolError("path must be a non-empty string relative to the workspace, e.g. 'train.py'")
        raw = path.strip()
        if raw.startswith(("/", "~", "\\")) or (len(raw) > 1 and raw[1] == ":"):
            raise ToolError(
                f"path {path!r} is absolute: use a path inside the workspace, e.g. 'scripts/train.py'"
            )
        parts = PurePosixPath(raw.replace("\\", "/")).parts
        if ".." in parts:
            raise ToolError(f"path {path!r} leaves the workspace ('..' is not allowed)")
        current = self.root
        for part in parts:
            if part in ("", "."):
                continue
            current = current / part
            if current.is_symlink():
                raise ToolError(f"path {path!r} goes through a symlink ({part}); symlinks are not followed")
        if current == self.root:
            raise ToolError("path names the workspace itself; give a file name")
        return current

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def read_text(self, path: str) -> str:
        target = self.resolve(path)
        try:
            fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            raise ToolError(f"no file {path!r} in the workspace (list_files() shows what exists)") from None
        except IsADirectoryError:
            raise ToolError(f"{path!r} is a directory") from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise ToolError(f"path {path!r} is a symlink; symlinks are not followed") from None
            raise ToolError(f"cannot read {path!r}: {exc.strerror}") from None
        with os.fdopen(fd, "rb") as fh:
            data = fh.read()
        return data.decode("utf-8", errors="replace")

    def write_text(self, ctx: ToolContext, path: str, content: str) -> dict:
        if not isinstance(content, str):
            raise ToolError("content must be a string")
        data = content.encode("utf-8")
        if len(data) > MAX_WRITE_BYTES:
            raise ToolError(f"content is {len(data):,} bytes; the limit for one file is {MAX_WRITE_BYTES:,}")
        target = self.resolve(path)
        rel = self.relative(target)
        with self._lock:
            previous = self._previous(target, rel)
            if previous == content:
                return {"path": rel, "version": self.versions.get(rel, (0, None))[0], "changed": False}
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, target)  # readers never see a half-written file
            version = self.versions.get(rel, (0, None))[0] + 1
            stored = content if len(data) <= MAX_STORED_CONTENT else None
            self.versions[rel] = (version, stored)
        diff_lines = list(
            difflib.unified_diff(
                (previous or "").splitlines(keepends=True),
                content.splitlines(keepends=True),
                fromfile=f"a/{rel}" if previous is not None else "/dev/null",
                tofile=f"b/{rel}",
            )
        )
        added = sum(1 for d in diff_lines if d.startswith("+") and not d.startswith("+++"))
        removed = sum(1 for d in diff_lines if d.startswith("-") and not d.startswith("---"))
        payload = {
            "path": rel,
            "version": version,
            "content": stored,
            "sha256": hashlib.sha256(data).hexdigest(),
            "bytes": len(data),
            "added": added,
            "removed": removed,
            "diff": "".join(diff_lines) if stored is not None else None,
        }
        ctx.emit(Kind.FILE_WRITTEN, payload)
        return {"path": rel, "version": version, "changed": True, "added": added, "removed": removed}

    def _previous(self, target: Path, rel: str) -> str | None:
        known = self.versions.get(rel)
        if known and known[1] is not None:
            return known[1]
        if target.is_file():
            return target.read_text(encoding="utf-8", errors="replace")
        return None


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
