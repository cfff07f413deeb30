"""Which model drives the agent: any litellm id, or a `script:` policy that replays turns from a file.

`resolve_model_id` picks the default (config, else the first provider with a key) and checks, before a
session starts, that the choice can work: a known provider prefix, its API key present, an api_base for
local servers. Errors name the fix, and always mention the offline `intern-tui demo`.
Nothing heavy is imported at module level (the TUI calls these before its first frame); litellm is
imported only when a real LLM is actually built.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ..errors import BadInput, InternError

DEMO_HINT = "or try the offline scripted demo: intern-tui demo"

# provider prefix -> (environment variable with the key or None, default model when that key is set)
PROVIDERS: dict[str, tuple[str | None, str | None]] = {
    "anthropic": ("ANTHROPIC_API_KEY", "anthropic/claude-sonnet-4-5"),
    "openai": ("OPENAI_API_KEY", "openai/gpt-5"),
    "huggingface": ("HF_TOKEN", "huggingface/Qwen/Qwen3-Coder-480B-A35B-Instruct"),
    "gemini": ("GEMINI_API_KEY", "gemini/gemini-2.5-pro"),
    "mistral": ("MISTRAL_API_KEY", None),
    "groq": ("GROQ_API_KEY", None),
    "together_ai": ("TOGETHERAI_API_KEY", None),
    "openrouter": ("OPENROUTER_API_KEY", None),
    "deepseek": ("DEEPSEEK_API_KEY", None),
    "ollama": (None, None),
    "ollama_chat": (None, None),
    "hosted_vllm": (None, None),
}
LOCAL_DEFAULT_BASE = {"ollama": "http://localhost:11434", "ollama_chat": "http://localhost:11434"}


def display_model(model_id: str | None) -> str:
    """How a model is shown: script:/long/path/policy.jsonl → script:policy.jsonl; litellm ids unchanged."""
    if model_id and model_id.startswith("script:"):
        return "script:" + model_id.rsplit("/", 1)[-1]
    return model_id or ""


def resolve_model_id(model: str | None, config_model: str | None = None) -> str:
    """The model to use, or BadInput saying what to set."""
    chosen = model or config_model
    if chosen:
        return chosen
    for prefix in ("anthropic", "openai", "huggingface", "gemini"):
        env, default = PROVIDERS[prefix]
        if env and os.environ.get(env) and default:
            return default
    raise BadInput(
        "no model configured and no provider API key found",
        hint="pass --model (e.g. anthropic/claude-sonnet-4-5, openai/gpt-5, ollama/qwen3, script:policy.jsonl), "
        f"set ANTHROPIC_API_KEY / OPENAI_API_KEY / HF_TOKEN, or put model = '…' in config.toml; {DEMO_HINT}",
    )


def check_model(model_id: str, api_base: str | None = None) -> None:
    """Fail fast, with the fix, when `model_id` cannot work here."""
    if model_id.startswith("script:"):
        load_script(Path(model_id[len("script:") :]).expanduser())
        return
    prefix, _, rest = model_id.partition("/")
    if not rest or prefix not in PROVIDERS:
        known = ", ".join(sorted(PROVIDERS))
        raise BadInput(
            f"unknown model id {model_id!r}: expected PROVIDER/MODEL with PROVIDER one of {known}, or script:PATH",
            hint=f"for example --model anthropic/claude-sonnet-4-5; {DEMO_HINT}",
        )
    env, _ = PROVIDERS[prefix]
    if env and not os.environ.get(env):
        raise BadInput(
            f"{model_id} needs the {env} environment variable", hint=f"export {env}=…; {DEMO_HINT}"
        )
    if prefix == "hosted_vllm" and not api_base:
        raise BadInput("hosted_vllm/ models need --api-base (e.g. http://localhost:8000/v1)", hint=DEMO_HINT)
    base = api_base or LOCAL_DEFAULT_BASE.get(prefix)
    if base:
        _check_reachable(base, model_id)


def _check_reachable(base: str, model_id: str) -> None:
    url = urlparse(base if "://" in base else f"http://{base}")
    host, port = url.hostname or "localhost", url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=3):
            pass
    except OSError as exc:
        raise InternError(
            f"cannot reach the model server for {model_id} at {base}: {exc.strerror or exc}",
            hint=f"start the server (e.g. `ollama serve`) or pass the right --api-base; {DEMO_HINT}",
        ) from exc


def build_model(model_id: str, api_base: str | None = None, **model_kwargs: Any):
    """A smolagents Model. `model_kwargs` go to litellm's completion (temperature, …; tests pass
    mock_response). smolagents and litellm are imported here, never at module import."""
    if model_id.startswith("script:"):
        from .scripted import ScriptedModel

        path = Path(model_id[len("script:") :]).expanduser()
        return ScriptedModel(load_script(path), model_id=model_id)
    import litellm  # lazy: 2.5–4 s to import
    from smolagents import LiteLLMModel

    litellm.suppress_debug_info = True
    base = api_base or LOCAL_DEFAULT_BASE.get(model_id.partition("/")[0])
    return LiteLLMModel(model_id=model_id, api_base=base, **model_kwargs)


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
