"""Secret redaction, applied to every event before it leaves the emitter.

Two layers: well-known token shapes (HF, Anthropic, OpenAI, GitHub, AWS, Bearer headers, NAME_TOKEN=value
assignments) and the literal values of secret-looking variables in the environment. The redacted text is
what the bus, the store, the UI and the mirror see, so an un-redacted secret never reaches disk.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping

MASK = "[REDACTED]"

# Variable names whose values are secrets (for both env-literal capture and NAME=value assignments).
_SECRET_NAME = re.compile(r"(TOKEN|API_?KEY|SECRET|PASSWORD|PASSWD|CREDENTIAL|ACCESS_KEY|PRIVATE_KEY)", re.I)
# Values of secret-named variables that are clearly references, not secrets: leave them readable.
_NOT_A_VALUE = re.compile(r"^(?:\$|os\.|getenv|env\[|None\b|null\b|true\b|false\b|<|\{|\[REDACTED\])", re.I)

TOKEN_SHAPES = [
    r"\bhf_[A-Za-z0-9]{20,}",  # Hugging Face user/org tokens
    r"\bsk-ant-[A-Za-z0-9_\-]{16,}",  # Anthropic
    r"\bsk-[A-Za-z0-9_\-]{16,}",  # OpenAI and compatible (sk-proj-…)
    r"\bgithub_pat_[A-Za-z0-9_]{20,}",  # GitHub fine-grained PAT
    r"\bgh[pousr]_[A-Za-z0-9]{20,}",  # GitHub classic tokens
    r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",  # AWS access key ids
]
_TRIGGERS = frozenset(
    {
        "hf_",
        "sk-",
        "github_pat_",
        "ghp_",
        "gho_",
        "ghu_",
        "ghs_",
        "ghr_",
        "AKIA",
        "ASIA",
        "Bearer",
        "TOKEN",
        "API_KEY",
        "APIKEY",
        "SECRET",
        "ACCESS_KEY",
        "PASSWORD",
        "PASSWD",
    }
)
_BEARER = r"(?P<bearer>\bBearer\s+)[A-Za-z0-9._~+/=\-]{8,}"
# NAME_TOKEN=value, NAME_API_KEY: "value", PASSWORD='value' (also inside JSON, where quotes are escaped).
_ASSIGN = (
    r"(?P<name>\b[A-Za-z0-9_]*(?:TOKEN|API_KEY|APIKEY|SECRET|SECRET_KEY|ACCESS_KEY|PASSWORD|PASSWD))"
    r"(?P<sep>\\?[\"']?\s*[=:]\s*(?:\\?[\"'])?)"
    r"(?P<value>[^\s\"'\\,;)}\]]{4,})"
)


class Redactor:
    """Replaces secrets in text. Build once (it snapshots the environment); `sub` is thread-safe."""

    def __init__(self, env: Mapping[str, str] | None = None, extra_values: list[str] | None = None):
        literals = set(extra_values or [])
        for name, value in (os.environ if env is None else env).items():
            if _SECRET_NAME.search(name) and len(value) >= 8 and not value.startswith("/"):
                literals.add(value)
        variants: set[str] = set()
        for value in literals:
            variants.add(value)
            variants.add(json.dumps(value)[1:-1])  # how it looks inside a JSON string
        parts = [re.escape(v) for v in sorted(variants, key=len, reverse=True) if v]
        self.literals = frozenset(literals)
        # Substrings at least one of which any match must contain: a cheap `in` test skips the regex for
        # the vast majority of texts (log lines, metrics, GPU samples).
        triggers = sorted(_TRIGGERS | {v[:12] for v in variants if v})
        self._trigger = re.compile("|".join(re.escape(t) for t in triggers))
        self._pattern = re.compile(
            "|".join([f"(?P<literal>{'|'.join(parts)})"] if parts else [])
            + ("|" if parts else "")
            + "|".join(TOKEN_SHAPES + [_BEARER, _ASSIGN])
        )

    def _replace(self, m: re.Match) -> str:
        if m.group("bearer"):
            return m.group("bearer") + MASK
        if m.group("name"):
            if _NOT_A_VALUE.match(m.group("value")):
                return m.group(0)
            return m.group("name") + m.group("sep") + MASK
        return MASK

    def sub(self, text: str) -> str:
        """Return `text` with secrets masked (the same object when nothing matched)."""
        if not self._trigger.search(text) or not self._pattern.search(text):
            return text
        return self._pattern.sub(self._replace, text)

    def scrub(self, value):
        """Redact strings inside any JSON-like structure (for observations and uploads)."""
        if isinstance(value, str):
            return self.sub(value)
        if isinstance(value, dict):
            return {k: self.scrub(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.scrub(v) for v in value]
        return value


_default: Redactor | None = None


def default_redactor() -> Redactor:
    """The process-wide redactor built from the environment at first use."""
    global _default
    if _default is None:
        _default = Redactor()
    return _default
