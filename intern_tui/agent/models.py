"""Which model drives the agent: any litellm id, or a `script:` policy that replays turns from a file.

`resolve_model_id` picks the default (config, else the first provider with a key) and `check_model`
checks, before a session starts, that the choice can work: litellm knows how to route the id, the key of
a known provider is set (a local api_base needs none), a local server is reachable. Errors name the fix,
and always mention the offline `intern-tui demo`.

`ModelSettings` is everything about how the model is called (timeouts, retries, the context window,
litellm parameters): stored with the session so resume and fork call the same endpoint the same way.
Nothing heavy is imported at module level (the TUI calls these before its first frame); litellm is
imported only for a deep check or when a real LLM is actually built.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ..errors import BadInput, InternError

DEMO_HINT = "or try the offline scripted demo: intern-tui demo"

# Providers whose key we know: prefix -> (environment variable, default model when that key is set).
# Any other litellm id passes through to litellm unchanged.
PROVIDERS: dict[str, tuple[str, str | None]] = {
    "anthropic": ("ANTHROPIC_API_KEY", "anthropic/claude-sonnet-4-5"),
    "openai": ("OPENAI_API_KEY", "openai/gpt-5"),
    "huggingface": ("HF_TOKEN", "huggingface/Qwen/Qwen3-Coder-480B-A35B-Instruct"),
    "gemini": ("GEMINI_API_KEY", "gemini/gemini-2.5-pro"),
    "mistral": ("MISTRAL_API_KEY", None),
    "groq": ("GROQ_API_KEY", None),
    "together_ai": ("TOGETHERAI_API_KEY", None),
    "openrouter": ("OPENROUTER_API_KEY", None),
    "deepseek": ("DEEPSEEK_API_KEY", None),
    "azure": ("AZURE_API_KEY", None),
    "xai": ("XAI_API_KEY", None),
    "fireworks_ai": ("FIREWORKS_AI_API_KEY", None),
}
LOCAL_DEFAULT_BASE = {
    "ollama": "http://localhost:11434",
    "ollama_chat": "http://localhost:11434",
    "lm_studio": "http://localhost:1234/v1",
}
NEEDS_API_BASE = frozenset({"hosted_vllm", "openai_like"})
DEFAULT_CONTEXT_WINDOW = 32_768  # when nothing tells us the real one: small enough to be safe almost anywhere
# `--api-base default`: the provider's own endpoint (an explicit choice to leave a session's custom endpoint)
DEFAULT_BASE = "default"


@dataclass
class ModelSettings:
    """How the model is called. Stored in each `session_started` event (`model_settings`)."""

    request_timeout: float = 120.0  # seconds without a byte from the server before the call is abandoned
    retry_attempts: int = 8  # retries per model call, for 429 / 5xx / timeouts / dropped connections
    retry_budget_s: float = 600.0  # total time one call may spend waiting between attempts
    retry_base_s: float = 2.0  # first backoff wait (doubles, capped at retry_max_wait_s) without Retry-After
    retry_max_wait_s: float = 120.0
    stream: bool = True  # stream tokens (live in the stream pane); false for servers that stream badly
    keep_reasoning: bool = False  # send the model's own reasoning back in later turns
    context_window: int | None = None  # explicit window (--context-window): wins over what is learned
    params: dict[str, Any] = field(default_factory=dict)  # passed to litellm: temperature, max_tokens, …

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> ModelSettings:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (data or {}).items() if k in known})

    @classmethod
    def from_config(cls, section: dict[str, Any]) -> ModelSettings:
        """The `[llm]` table of config.toml: our keys are settings (type-checked: ValueError), every
        other key is a litellm param (temperature, max_tokens, num_ctx, …)."""
        settings = cls()
        for f in fields(cls):
            if f.name == "params" or f.name not in section:
                continue
            value, default = section[f.name], getattr(settings, f.name)
            kind = bool if isinstance(default, bool) else float if isinstance(default, float) else int
            if isinstance(value, bool) != (kind is bool) or not isinstance(value, int | float):
                raise ValueError(f"{f.name} must be {'true or false' if kind is bool else 'a number'}")
            if kind is not bool and value <= 0:
                raise ValueError(f"{f.name} must be positive")
            setattr(settings, f.name, kind(value))
        settings.params = {k: v for k, v in section.items() if k not in {f.name for f in fields(cls)}}
        return settings


def provider_of(model_id: str) -> str:
    return model_id.partition("/")[0] if "/" in model_id else ""


def is_local(api_base: str | None) -> bool:
    """A loopback or private-network endpoint (a server you run): no API key is needed for it."""
    if not api_base:
        return False
    host = urlparse(api_base if "://" in api_base else f"http://{api_base}").hostname or ""
    if host in ("localhost", "host.docker.internal") or host.endswith(".local"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_link_local


def effective_api_base(model_id: str, api_base: str | None) -> str | None:
    if api_base == DEFAULT_BASE:
        return None
    return api_base or LOCAL_DEFAULT_BASE.get(provider_of(model_id))


def resolve_model_id(model: str | None, config_model: str | None = None) -> str:
    """The model to use, or BadInput saying what to set."""
    chosen = model or config_model
    if chosen:
        return chosen
    for prefix in ("anthropic", "openai", "huggingface", "gemini"):
        env, default = PROVIDERS[prefix]
        if os.environ.get(env) and default:
            return default
    raise BadInput(
        "no model configured and no provider API key found",
        hint="pass --model (e.g. anthropic/claude-sonnet-4-5, openai/gpt-5, ollama/qwen3, script:policy.jsonl), "
        f"set ANTHROPIC_API_KEY / OPENAI_API_KEY / HF_TOKEN, or put model = '…' in config.toml; {DEMO_HINT}",
    )


def check_model(model_id: str, api_base: str | None = None, *, deep: bool = True) -> None:
    """Fail fast, with the fix, when `model_id` cannot work here.

    `deep=False` only checks the form of the id (the new-session form: it knows no api_base yet, and
    importing litellm takes seconds); the session start, off the UI thread, does the whole check: litellm
    can route the id, the key is set, the server answers."""
    if model_id.startswith("script:"):
        load_script(Path(model_id[len("script:") :]).expanduser())
        return
    prefix = provider_of(model_id)
    if not model_id.strip() or model_id.endswith("/"):
        raise BadInput(f"model id {model_id!r} is incomplete", hint=f"for example openai/gpt-5; {DEMO_HINT}")
    if not deep:
        return
    _check_routable(model_id)
    base = effective_api_base(model_id, api_base)
    if prefix in PROVIDERS and not is_local(base):
        env = PROVIDERS[prefix][0]
        if not os.environ.get(env):
            raise BadInput(
                f"{model_id} needs the {env} environment variable", hint=f"export {env}=…; {DEMO_HINT}"
            )
    if prefix in NEEDS_API_BASE and not base:
        raise BadInput(f"{prefix}/ models need --api-base (e.g. http://localhost:8000/v1)", hint=DEMO_HINT)
    if base:
        _check_reachable(base, model_id)


def _check_routable(model_id: str) -> None:
    import litellm  # lazy: 2.5–4 s to import

    litellm.suppress_debug_info = True
    try:
        litellm.get_llm_provider(model_id)
    except Exception as exc:
        raise BadInput(
            f"unknown model id {model_id!r}: litellm cannot tell which provider serves it",
            hint=f"use PROVIDER/MODEL, e.g. anthropic/claude-sonnet-4-5, openai/gpt-5, hosted_vllm/NAME with "
            f"--api-base, or script:PATH; {DEMO_HINT}",
        ) from exc


def _check_reachable(base: str, model_id: str) -> None:
    url = urlparse(base if "://" in base else f"http://{base}")
    host, port = url.hostname or "localhost", url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=3):
            pass
    except OSError as exc:
        raise InternError(
            f"cannot reach the model server for {model_id} at {base}: {exc.strerror or exc}",
            hint=f"start the server (e.g. `ollama serve`, `vllm serve …`) or pass the right --api-base; {DEMO_HINT}",
        ) from exc


def build_model(model_id: str, api_base: str | None = None, settings: ModelSettings | None = None):
    """A smolagents Model. smolagents and litellm are imported here, never at module import."""
    if model_id.startswith("script:"):
        from .scripted import ScriptedModel

        path = Path(model_id[len("script:") :]).expanduser()
        return ScriptedModel(load_script(path), model_id=model_id)
    from .llm import StreamingLiteLLMModel

    settings = settings or ModelSettings()
    base = effective_api_base(model_id, api_base)
    api_key = None
    key_env = PROVIDERS[provider_of(model_id)][0] if provider_of(model_id) in PROVIDERS else None
    if is_local(base) and key_env and not os.environ.get(key_env):
        api_key = "sk-local-no-key"  # e.g. the openai client insists on a key; a local server ignores it
    return StreamingLiteLLMModel(model_id=model_id, api_base=base, api_key=api_key, settings=settings)


# -- the scripted policy -------------------------------------------------------------------------------


def load_script(path: Path) -> list[dict[str, Any]]:
    """Read a JSON Lines policy: one {"thought": …, "code": …} object per line (blank lines ignored)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"cannot read scripted policy {path}: {exc.strerror or exc}", hint=DEMO_HINT) from exc
    except UnicodeDecodeError as exc:
        raise BadInput(f"scripted policy {path} is not UTF-8 text", hint="one JSON object per line") from exc
    turns = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            turn = json.loads(line)
        except ValueError as exc:
            raise BadInput(
                f"{path}:{number}: not valid JSON ({exc.msg})", hint="one JSON object per line"
            ) from exc
        if not isinstance(turn, dict) or not isinstance(turn.get("code"), str):
            raise BadInput(f'{path}:{number}: each line needs a "code" string (and optionally "thought")')
        turns.append(turn)
    if not turns:
        raise BadInput(f"scripted policy {path} has no turns", hint='one {"thought": …, "code": …} per line')
    return turns


def render_turn(thought: str, code: str) -> str:
    """The text an LLM would have produced for this turn, in smolagents' CodeAgent format."""
    return f"Thought: {thought.strip()}\n<code>\n{code.rstrip()}\n</code>"
