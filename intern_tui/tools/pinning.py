"""An approval pins what runs: the code a person approved is the code that runs, byte for byte.

When a launch asks for approval, the script and every Python file in the workspace (what the script can
import) are copied into a content-addressed snapshot, `jobs/.pinned/<digest>/`; everything else in the
workspace (data, configs, checkpoints) appears there as symlinks to the live files, so a script that finds
its data next to itself (`Path(__file__).parent / "data"`) still does. The approval shows the snapshot's
digest and a diff against the last approved snapshot of the same script; the job runs from the snapshot
(its directory is the script's, so workspace imports resolve there first), with the workspace as its
working directory. Code rewritten after approval changes nothing about the job; a snapshot changed on
disk before the launch is refused.

Uploads are pinned too (`pin_upload`): the approval fingerprints every file `push_to_hub` would send
(sha256; size and mtime for files over 256 MB) and the upload is refused if any was changed, added or
removed since — so a checkpoint swapped after the approval is not what gets published.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .base import ToolError

PIN_DIR = Path("jobs") / ".pinned"
_SKIP_DIRS = {"jobs", "__pycache__", "node_modules"}
MAX_FILE = 2 * 1024 * 1024
MAX_TOTAL = 50 * 1024 * 1024


@dataclass
class Pin:
    script: str  # relative to the workspace
    digest: str  # sha256 over (path, content hash) of every pinned file
    root: Path  # the snapshot directory
    files: dict[str, str] = field(default_factory=dict)  # relative path -> sha256 of its content
    diff: str = ""  # against the last approved snapshot of the same script ("" when identical)
    previous: str | None = None  # that snapshot's digest

    @property
    def script_path(self) -> Path:
        return self.root / self.script

    @property
    def key(self) -> str:  # the last approved pin of the same key is what the next diff is against
        return self.script

    def view(self) -> dict[str, Any]:
        """What the approval shows (and records): never truncated."""
        changed = "unchanged since the last approval" if self.previous and not self.diff else None
        return {
            "script": self.script,
            "sha256": self.digest,
            "files": sorted(self.files),
            "previous_sha256": self.previous,
            "diff": self.diff,
            **({"note": changed} if changed else {}),
        }

    def verify(self) -> None:
        """Refuse to run a snapshot that was modified after it was taken."""
        for rel, digest in self.files.items():
            try:
                actual = _sha256((self.root / rel).read_bytes())
            except OSError:
                actual = None
            if actual != digest:
                raise ToolError(
                    f"the approved snapshot of {rel} changed on disk after approval ({self.root}); "
                    "the job was not started: launch it again to approve the current code"
                )


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _python_files(workspace: Path) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    total = 0
    for dirpath, dirnames, filenames in os.walk(workspace):
        rel_dir = Path(dirpath).relative_to(workspace)
        dirnames[:] = sorted(
            d for d in dirnames if not d.startswith(".") and not (rel_dir == Path(".") and d in _SKIP_DIRS)
        )
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if not name.endswith(".py") or path.is_symlink():
                continue
            size = path.stat().st_size
            if size > MAX_FILE:
                continue  # not source a person would review; too big to pin
            total += size
            if total > MAX_TOTAL:
                raise ToolError(
                    "the workspace holds over 50 MB of .py files: too much to pin for an approval"
                )
            out[str(path.relative_to(workspace))] = path.read_bytes()
    return out


def pin_script(workspace: Path, script: str, previous: Pin | None = None) -> Pin:
    """Snapshot `script` (relative to `workspace`) and the workspace's Python files; diff against
    `previous`, the last approved pin of the same script."""
    workspace = Path(workspace).resolve()
    sources = _python_files(workspace)
    rel = str(Path(script))
    if rel not in sources:
        raise ToolError(f"no script {script!r} in the workspace to pin for approval")
    files = {path: _sha256(data) for path, data in sources.items()}
    digest = _sha256("\n".join(f"{p}\0{h}" for p, h in sorted(files.items())).encode())
    root = workspace / PIN_DIR / digest[:20]
    if not root.is_dir():
        staging = root.with_name(root.name + f".tmp-{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        for path, data in sources.items():
            target = staging / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        os.replace(staging, root)  # complete or absent, never half-written
    _link_the_rest(workspace, root, set(sources))
    pin = Pin(rel, digest, root, files, previous=previous.digest if previous else None)
    pin.diff = _diff(pin, previous)
    return pin


def _link_the_rest(workspace: Path, root: Path, python_files: set[str]) -> None:
    """Symlink every non-Python entry of the workspace into the snapshot (a directory holding no Python
    file at all is linked whole). Links already there are kept: a snapshot is reused by later launches."""
    code_dirs = {str(parent) for path in python_files for parent in Path(path).parents}

    def walk(rel: Path) -> None:
        try:
            entries = sorted(os.scandir(workspace / rel), key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            child = rel / entry.name
            if entry.name.startswith(".") or (rel == Path(".") and entry.name in _SKIP_DIRS):
                continue
            target = root / child
            if entry.is_dir(follow_symlinks=False) and str(child) in code_dirs:
                walk(child)
            elif str(child) not in python_files and not os.path.lexists(target):
                target.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(workspace / child, target)

    walk(Path("."))


def _diff(pin: Pin, previous: Pin | None) -> str:
    """Unified diff of the pinned files against the previous approval: the script first, then the modules
    it could import. Against nothing, the script in full as a new file."""
    if previous is not None and previous.digest == pin.digest:
        return ""
    old_files = previous.files if previous else {}
    paths = [pin.script] + sorted((set(pin.files) | set(old_files)) - {pin.script})
    if previous is None:
        paths = [pin.script]
    chunks: list[str] = []
    for path in paths:
        if pin.files.get(path) == old_files.get(path):
            continue
        old = _read(previous.root / path) if previous and path in old_files else []
        new = _read(pin.root / path) if path in pin.files else []
        chunks.extend(
            difflib.unified_diff(
                old, new, f"a/{path}" if old else "/dev/null", f"b/{path}" if new else "/dev/null"
            )
        )
    return "".join(chunks)


def _read(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
    except OSError:
        return []


# -- uploads -------------------------------------------------------------------------------------------

HASH_LIMIT = 256 * 1024 * 1024  # bigger files (weights) are fingerprinted by size and mtime instead


@dataclass
class UploadPin:
    """What an approved upload sends: these files with this content, nothing added or changed since."""

    path: str  # the workspace file or folder the request names
    files: dict[str, str]  # workspace-relative path -> sha256 (or "size:mtime_ns" above HASH_LIMIT)
    size: int
    digest: str

    @property
    def key(self) -> str:
        return f"upload:{self.path}"

    def view(self) -> dict[str, Any]:
        return {
            "kind": "upload",
            "path": self.path,
            "sha256": self.digest,
            "files": sorted(self.files),
            "bytes": self.size,
            "note": f"uploads exactly these {len(self.files)} files; one changed or added after approval "
            "is refused",
        }

    def verify(self, workspace: Path, current: list[Path]) -> None:
        """Refuse the upload when what would be sent is not what was approved."""
        workspace = Path(workspace).resolve()
        now = {str(p.resolve().relative_to(workspace)): p for p in current}
        added = sorted(set(now) - set(self.files))
        missing = sorted(set(self.files) - set(now))
        changed = sorted(
            rel for rel in set(now) & set(self.files) if _fingerprint(now[rel]) != self.files[rel]
        )
        problems = [
            f"{label}: {', '.join(names[:5])}{' …' if len(names) > 5 else ''}"
            for label, names in (("changed", changed), ("added", added), ("removed", missing))
            if names
        ]
        if problems:
            raise ToolError(
                f"the files of {self.path!r} are not the ones approved ({'; '.join(problems)}); nothing was "
                "uploaded: call push_to_hub again to approve what is there now"
            )


def _fingerprint(path: Path) -> str:
    info = path.stat()
    if info.st_size > HASH_LIMIT:
        return f"size:{info.st_size}:{info.st_mtime_ns}"
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def pin_upload(workspace: Path, path: str, files: list[Path]) -> UploadPin:
    """Fingerprint the files an upload of `path` would send, when the approval is asked."""
    workspace = Path(workspace).resolve()
    prints = {str(p.resolve().relative_to(workspace)): _fingerprint(p) for p in files}
    digest = _sha256("\n".join(f"{p}\0{h}" for p, h in sorted(prints.items())).encode())
    return UploadPin(path, prints, sum(p.stat().st_size for p in files), digest)
