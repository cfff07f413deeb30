"""The session workspace: a directory the agent may read and write, and nothing outside it.

Used by the file tools (`tools/files.py`), the job manager (scripts and logs live in the workspace) and
publishing. Every write that changes a file stores a new version and emits `file_written` with the full
content (for replay and the diff viewer, up to a size limit) and the unified diff against the previous one.
"""

from __future__ import annotations

import difflib
import errno
import hashlib
import os
import threading
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from .errors import ToolError
from .events import Kind

MAX_WRITE_BYTES = 5_000_000
MAX_STORED_CONTENT = 256_000  # larger files are versioned by hash only (their text stays on disk)


class Emits(Protocol):
    """What a write needs from its caller (a ToolContext): somewhere to emit `file_written`."""

    def emit(self, kind: str, payload: dict[str, Any]) -> Any: ...


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

    def write_text(self, ctx: Emits, path: str, content: str) -> dict:
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
