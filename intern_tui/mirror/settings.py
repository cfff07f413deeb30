"""The `[mirror]` section of config.toml, and how a target repo id is written.

```toml
[mirror]
enabled = true                 # opt-out: false keeps everything local
repo = "me/intern-tui-sessions"   # default: {your HF user}/intern-tui-sessions
allow_public = false           # refuse to upload to a public repo unless this is true
upload_workspace = false       # also upload the session's text files when it ends
heartbeat_seconds = 300        # how often a running session's new events are pushed
```
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..errors import BadInput

DEFAULT_NAME = "intern-tui-sessions"
_HINT = "fix the [mirror] section of config.toml (see docs/mirror.md)"
_PART = r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}"
_REPO_ID = re.compile(rf"^(?:{_PART}/)?{_PART}$")


@dataclass(frozen=True)
class MirrorSettings:
    """What the mirror does; built from config.toml and command-line flags."""

    enabled: bool = True
    repo: str | None = None  # None: {hf_user}/intern-tui-sessions; "name" alone: {hf_user}/name
    allow_public: bool = False
    upload_workspace: bool = False
    heartbeat_seconds: float = 300.0
    shard_events: int = 5000  # events per shard file
    shards_per_commit: int = 20

    @classmethod
    def from_section(cls, section: dict[str, Any]) -> MirrorSettings:
        """Validate a `[mirror]` table; a wrong value is one clear BadInput line."""
        known = {"enabled", "repo", "allow_public", "upload_workspace", "heartbeat_seconds", "shard_events"}
        unknown = sorted(set(section) - known)
        if unknown:
            raise BadInput(f"unknown key in [mirror]: {', '.join(unknown)}", hint=_HINT)
        values: dict[str, Any] = {}
        for key in ("enabled", "allow_public", "upload_workspace"):
            if key in section:
                if not isinstance(section[key], bool):
                    raise BadInput(f"[mirror] {key} must be true or false, not {section[key]!r}", hint=_HINT)
                values[key] = section[key]
        if "repo" in section:
            if not isinstance(section["repo"], str) or not section["repo"].strip():
                raise BadInput(
                    f"[mirror] repo must be a dataset id like 'me/sessions', not {section['repo']!r}"
                )
            values["repo"] = normalize_repo_id(section["repo"])
        if "heartbeat_seconds" in section:
            values["heartbeat_seconds"] = _positive(section, "heartbeat_seconds", minimum=5)
        if "shard_events" in section:
            values["shard_events"] = int(_positive(section, "shard_events", minimum=1))
        return cls(**values)

    @classmethod
    def load(cls) -> MirrorSettings:
        from ..config import load_config

        return cls.from_section(load_config().section("mirror"))

    def target_for(self, hf_user: str) -> str:
        if self.repo is None:
            return f"{hf_user}/{DEFAULT_NAME}"
        return self.repo if "/" in self.repo else f"{hf_user}/{self.repo}"


def _positive(section: dict[str, Any], key: str, minimum: float) -> float:
    value = section[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise BadInput(f"[mirror] {key} must be a number >= {minimum}, not {value!r}", hint=_HINT)
    return float(value)


def normalize_repo_id(text: str) -> str:
    """`me/x`, `datasets/me/x` or a dataset URL → `me/x`. A model or Space id is refused: the mirror
    writes a dataset, and silently creating a dataset beside a same-named model would confuse."""
    raw = text.strip()
    ref = re.sub(r"^https?://(www\.)?huggingface\.co/", "", raw).strip("/")
    kind = ref.split("/", 1)[0]
    if kind in ("spaces", "models") and ref.count("/") == 2:
        what = "a Space" if kind == "spaces" else "a model"
        raise BadInput(
            f"mirror repo {raw!r} is {what} repo; the mirror needs a dataset repo",
            hint="set [mirror] repo to a dataset id such as 'me/intern-tui-sessions'",
        )
    if kind == "datasets":
        ref = ref.split("/", 1)[1]
    elif raw.startswith(("http://", "https://")) and ref.count("/") == 1:
        raise BadInput(
            f"mirror repo {raw!r} is a model URL; the mirror needs a dataset repo",
            hint="use https://huggingface.co/datasets/<user>/<name> or just <user>/<name>",
        )
    if not _REPO_ID.match(ref) or ".." in ref:
        raise BadInput(
            f"mirror repo {raw!r} is not a valid repo id", hint="use <user>/<name>, e.g. me/sessions"
        )
    return ref
