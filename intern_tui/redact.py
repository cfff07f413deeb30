"""Secret redaction, applied to every event before it leaves the emitter, and again, harder, to what the
model sees.

What counts as a secret:
- well-known token shapes: Hugging Face, Anthropic, OpenAI, GitHub, GitLab, AWS key ids, Stripe, Slack,
  Google API keys and OAuth tokens, JWTs, PEM private keys, `Bearer …` headers, `user:password@` in URLs;
- assignments whose name says secret, in any case and quoting: `HF_TOKEN=…`, `password: …`,
  `"api_key": "…"`, `aws_secret_access_key = …`;
- the values of the user's secrets, whatever their names: environment variables whose name says secret,
  and any environment value that looks like a token (long, high-entropy, no path or spaces); also values
  added at run time (`add_secrets`, e.g. the token a job was given). Those are matched as written, inside
  JSON, reversed, hex-encoded and base64-encoded (at any byte alignment, standard and URL-safe alphabets).

`sub` is the fast path the emitter runs on every event's JSON. `sub_deep` is for what the model reads
(observations, tool results): it also catches a known value split across prints or separated by
whitespace/quotes, written as a list of character codes, or cut into pieces of 12+ characters.

The redactor lives in the session process only: agent code runs in another process (sandbox/) and can
neither read nor patch it.
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
import threading
from collections.abc import Iterable, Mapping

MASK = "[REDACTED]"

# Variable names whose values are secrets (for env capture).
_SECRET_NAME = re.compile(
    r"(TOKEN|API_?KEY|SECRET|PASSWORD|PASSWD|CREDENTIAL|ACCESS_KEY|PRIVATE_KEY|AUTH|COOKIE|SESSION_KEY)", re.I
)
# Environment variables that are never secrets even when they look random.
_NOT_SECRET_ENV = re.compile(
    r"^(PATH|PWD|OLDPWD|HOME|SHELL|TERM|LANG|LC_\w+|LS_COLORS|DISPLAY|SSH_AUTH_SOCK|SSH_CONNECTION|SSH_CLIENT|"
    r"TMUX|TMUX_PANE|XDG_\w+|HOSTNAME|USER|LOGNAME|MAIL|PYTHONPATH|VIRTUAL_ENV|CONDA_\w+|LD_LIBRARY_PATH|"
    r"MANPATH|INFOPATH|CUDA_VISIBLE_DEVICES|_|SHLVL|INTERN_TUI_\w+|PYTEST_\w+)$"
)
# Values of secret-named variables that are clearly references, not secrets: leave them readable.
_NOT_A_VALUE = re.compile(
    r"^(?:\$|os\.|getenv|env\[|environ|None\b|null\b|true\b|false\b|<|\{|\[REDACTED\]|\d+(?:\.\d+)?$"
    r"|[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+$|[\w.]*\()",  # code: `tokenizer.eos_token`, `get_token(`
    re.I,
)

TOKEN_SHAPES = [
    r"\bhf_[A-Za-z0-9]{20,}",  # Hugging Face user/org tokens
    r"\bsk-ant-[A-Za-z0-9_\-]{16,}",  # Anthropic
    r"\bsk-[A-Za-z0-9_\-]{16,}",  # OpenAI and compatible (sk-proj-…)
    r"\bgithub_pat_[A-Za-z0-9_]{20,}",  # GitHub fine-grained PAT
    r"\bgh[pousr]_[A-Za-z0-9]{20,}",  # GitHub classic tokens
    r"\bglpat-[A-Za-z0-9_\-]{20,}",  # GitLab personal access tokens
    r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",  # AWS access key ids
    r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}",  # Stripe secret / restricted keys
    r"\bwhsec_[A-Za-z0-9]{16,}",  # Stripe webhook secrets
    r"\bxox[abposr]-[A-Za-z0-9\-]{10,}",  # Slack tokens
    r"\bxapp-[A-Za-z0-9\-]{10,}",  # Slack app tokens
    r"https://hooks\.slack\.com/services/[A-Za-z0-9/]{16,}",  # Slack webhooks
    r"\bAIza[0-9A-Za-z_\-]{35}",  # Google API keys
    r"\bya29\.[0-9A-Za-z_\-]{20,}",  # Google OAuth access tokens
    r"\bGOCSPX-[0-9A-Za-z_\-]{20,}",  # Google OAuth client secrets
    r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",  # JWTs
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----",  # PEM private keys
]
_TRIGGERS = (
    "hf_", "sk-", "sk_", "rk_", "whsec_", "github_pat_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "glpat-",
    "AKIA", "ASIA", "xox", "xapp-", "hooks.slack", "AIza", "ya29.", "GOCSPX-", "eyJ", "PRIVATE KEY", "://",
    "bearer", "token", "api_key", "apikey", "api-key", "secret", "access_key", "private_key", "passw",
    "credential", "auth", "cookie",
)  # fmt: skip
_BEARER = r"(?P<bearer>\b[Bb]earer\s+)[A-Za-z0-9._~+/=\-]{8,}"
# user:password@host in a URL: the password goes, the rest stays readable.
_URL_CREDS = r"(?P<url>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@\"'\\]+:)[^\s@/\"'\\]{3,}(?=@)"
# NAME=value, name: "value", "api_key": "value" (also inside JSON, where quotes are escaped); any case.
_ASSIGN = (
    r"(?P<name>\b[A-Za-z0-9_\-]*(?i:token|api_key|apikey|api-key|secret|secret_key|access_key|private_key"
    r"|password|passwd|credentials?|auth_key|session_key|cookie))"
    r"(?P<sep>\\?[\"']?\s*[=:]\s*(?:\\?[\"'])?)"
    r"(?P<value>[^\s\"'\\,;)}\]]{4,})"
)
_MIN_LITERAL = 8
_FRAGMENT = 12  # sub_deep: any piece of a known secret at least this long is masked
_SQUEEZE = re.compile(r"[\s\"'+,`]+|\\[nrt]")
_CODES = re.compile(r"\[\s*\d{1,3}(?:\s*,\s*\d{1,3}){7,}\s*,?\s*\]")


def looks_like_token(value: str) -> bool:
    """An environment value that is probably a credential: long, no spaces or path, mixed, high-entropy."""
    if len(value) < 20 or len(value) > 512 or any(c.isspace() for c in value):
        return False
    if value.startswith(("/", "~", ".")) or "://" in value or os.pathsep + "/" in value:
        return False
    classes = sum(
        any(test(c) for c in value)
        for test in (str.islower, str.isupper, str.isdigit, lambda c: c in "-_+/=.")
    )
    if classes < 3:
        return False
    counts: dict[str, int] = {}
    for c in value:
        counts[c] = counts.get(c, 0) + 1
    entropy = -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())
    return entropy >= 3.5


def secret_env_values(env: Mapping[str, str]) -> set[str]:
    """The values in `env` that are secrets: by their variable's name, or by their look."""
    out = set()
    for name, value in env.items():
        if len(value) < _MIN_LITERAL or value.startswith("/") or _NOT_SECRET_ENV.match(name):
            continue
        if _SECRET_NAME.search(name) or looks_like_token(value):
            out.add(value)
    return out


def encodings(value: str) -> set[str]:
    """How a secret may appear in text: as is, reversed, hex, and base64 at each of the three byte
    alignments (the part of the encoding that depends only on the secret's own bytes)."""
    data = value.encode("utf-8")
    forms = {value, value[::-1], data.hex(), data.hex().upper()}
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        for shift in range(3):
            text = encode(b"\x00" * shift + data).decode("ascii")
            core = text[4 if shift else 0 : -4]
            if len(core) >= _FRAGMENT:
                forms.add(core)
    return {f for f in forms if len(f) >= _MIN_LITERAL}


class Redactor:
    """Replaces secrets in text. Build once (it snapshots the environment); thread-safe."""

    def __init__(self, env: Mapping[str, str] | None = None, extra_values: Iterable[str] | None = None):
        self._lock = threading.Lock()
        self._secrets: set[str] = set(v for v in (extra_values or []) if len(v) >= _MIN_LITERAL)
        self._secrets |= secret_env_values(os.environ if env is None else env)
        self._build()

    @property
    def literals(self) -> frozenset[str]:
        """The known secret values (as written)."""
        return frozenset(self._secrets)

    def add_secrets(self, values: Iterable[str]) -> None:
        """Also mask these values from now on (e.g. a token handed to a job)."""
        new = {v for v in values if v and len(v) >= _MIN_LITERAL} - self._secrets
        if new:
            with self._lock:
                self._secrets |= new
                self._build()

    def _build(self) -> None:
        variants: set[str] = set()
        for value in self._secrets:
            for form in encodings(value):
                variants.add(form)
                variants.add(json.dumps(form)[1:-1])  # how it looks inside a JSON string
        parts = [re.escape(v) for v in sorted(variants, key=len, reverse=True) if v]
        literal = f"(?P<literal>{'|'.join(parts)})" if parts else None
        shapes = TOKEN_SHAPES + [_BEARER, _URL_CREDS, _ASSIGN]
        pattern = re.compile("|".join(([literal] if literal else []) + shapes), re.DOTALL)
        triggers = sorted({t.lower() for t in _TRIGGERS} | {v[:12].lower() for v in variants})
        # Matched against the lowered text: an IGNORECASE alternation costs ~10x more per character, and
        # this prefilter reads every byte of every event.
        trigger = re.compile("|".join(re.escape(t) for t in triggers))
        self._literal = re.compile("|".join(parts)) if parts else None
        self._fragments = {
            s[i : i + _FRAGMENT]
            for s in self._secrets
            if len(s) >= _FRAGMENT
            for i in range(len(s) - _FRAGMENT + 1)
        }
        self._pattern, self._trigger = pattern, trigger  # swapped last: readers see old or new, never half

    def _replace(self, m: re.Match) -> str:
        if m.group("bearer"):
            return m.group("bearer") + MASK
        if m.group("url"):
            return m.group("url") + MASK
        if m.group("name"):
            if _NOT_A_VALUE.match(m.group("value")):
                return m.group(0)
            return m.group("name") + m.group("sep") + MASK
        return MASK

    def sub(self, text: str) -> str:
        """Return `text` with secrets masked (the same object when nothing matched)."""
        pattern, trigger = self._pattern, self._trigger
        if not trigger.search(text.lower()) or not pattern.search(text):
            return text
        return pattern.sub(self._replace, text)

    def sub_deep(self, text: str) -> str:
        """`sub`, plus known values split by whitespace/quotes/newlines (several prints), written as
        character codes, or cut into pieces: for what the model is about to read."""
        text = self.sub(text)
        if not self._secrets:
            return text
        text = _CODES.sub(self._codes, text)
        text = self._squeezed(text)
        return self._pieces(text)

    def _codes(self, m: re.Match) -> str:
        try:
            decoded = "".join(chr(int(n)) for n in re.findall(r"\d+", m.group(0)))
        except ValueError:
            return m.group(0)
        return MASK if self._holds_secret(decoded) else m.group(0)

    def _holds_secret(self, text: str) -> bool:
        if self._literal is not None and self._literal.search(text):
            return True
        return any(text[i : i + _FRAGMENT] in self._fragments for i in range(len(text) - _FRAGMENT + 1))

    def _squeezed(self, text: str) -> str:
        """Find secrets in the text with separators removed; mask the original span they came from."""
        if self._literal is None:
            return text
        keep = [(m.start(), m.end()) for m in _SQUEEZE.finditer(text)]
        if not keep:
            return text
        squeezed, index, last = [], [], 0
        for start, end in keep + [(len(text), len(text))]:
            squeezed.append(text[last:start])
            index.extend(range(last, start))
            last = end
        joined = "".join(squeezed)
        spans = [(index[m.start()], index[m.end() - 1] + 1) for m in self._literal.finditer(joined)]
        for start, end in reversed(spans):
            text = text[:start] + MASK + text[end:]
        return text

    def _pieces(self, text: str) -> str:
        """Mask runs of text that are pieces (12+ characters) of a known secret."""
        hits = [i for i in range(len(text) - _FRAGMENT + 1) if text[i : i + _FRAGMENT] in self._fragments]
        if not hits:
            return text
        spans: list[list[int]] = []
        for i in hits:
            if spans and i <= spans[-1][1]:
                spans[-1][1] = i + _FRAGMENT
            else:
                spans.append([i, i + _FRAGMENT])
        for start, end in reversed(spans):
            text = text[:start] + MASK + text[end:]
        return text

    def scrub(self, value, deep: bool = False):
        """Redact strings inside any JSON-like structure (for observations and uploads)."""
        if isinstance(value, str):
            return self.sub_deep(value) if deep else self.sub(value)
        if isinstance(value, dict):
            return {k: self.scrub(v, deep) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.scrub(v, deep) for v in value]
        return value


_default: Redactor | None = None


def default_redactor() -> Redactor:
    """The process-wide redactor built from the environment at first use."""
    global _default
    if _default is None:
        _default = Redactor()
    return _default
