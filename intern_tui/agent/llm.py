"""A litellm model for long unattended runs: streamed, abandonable, classified errors, honest usage.

smolagents' `LiteLLMModel.generate` blocks in one call (litellm's default timeout is 600 s), retries rate
limits silently with its own sleeps, and cannot be stopped from another thread. Here each attempt runs in a
daemon thread that feeds chunks to the caller through a queue; the caller (the agent thread) watches the
interrupt event and the idle time, so an interrupt or a hung server gives up within a fraction of a second
of its deadline, and a reply that arrives afterwards is dropped with the thread. Errors come out as
`calls.TransientModelError` / `FatalModelError` / `ContextOverflow`; `calls.ResilientModel` decides what
to do with them. smolagents' own retrier and litellm's/openai's retries are switched off.

This module is imported only when a real LLM is built (it imports litellm).
"""

from __future__ import annotations

import email.utils
import json
import queue
import re
import threading
import time
import urllib.request
from typing import Any

import litellm
from smolagents import LiteLLMModel
from smolagents.models import ChatMessage, MessageRole, remove_content_after_stop_sequences
from smolagents.monitoring import TokenUsage

from .calls import CallCancelled, ContextOverflow, FatalModelError, ReplyInfo, TransientModelError
from .models import ModelSettings, is_local, provider_of

litellm.suppress_debug_info = True

POLL_S = 0.1  # how often the waiting thread looks at the interrupt flag
_LIMIT = re.compile(r"(?:maximum context length|context length|context window)[^0-9]{0,40}(\d{3,9})", re.I)
_OVERFLOW_WORDS = (
    "maximum context length",
    "context_length_exceeded",
    "context length",
    "prompt is too long",
    "too many tokens",
    "reduce the length",
    "exceeds the context window",
)


class StreamingLiteLLMModel(LiteLLMModel):
    """`streams = True` tells `ResilientModel` to pass a live sink and the interrupt event."""

    streams = True

    def __init__(
        self, model_id: str, api_base: str | None, api_key: str | None, settings: ModelSettings
    ) -> None:
        super().__init__(
            model_id=model_id, api_base=api_base, api_key=api_key, retry=False, **settings.params
        )
        self.settings = settings

    def generate(
        self,
        messages,
        stop_sequences=None,
        response_format=None,
        tools_to_call_from=None,
        live=None,
        cancel: threading.Event | None = None,
        **kwargs,
    ) -> ChatMessage:
        request = self._prepare_completion_kwargs(
            messages=messages,
            stop_sequences=stop_sequences,
            response_format=response_format,
            tools_to_call_from=tools_to_call_from,
            model=self.model_id,
            api_base=self.api_base,
            api_key=self.api_key,
            convert_images_to_image_urls=True,
            custom_role_conversions=self.custom_role_conversions,
            **kwargs,
        )
        timeout = float(self.settings.request_timeout)
        request.update(timeout=timeout, max_retries=0, num_retries=0)
        if self.settings.stream:
            request.update(stream=True, stream_options={"include_usage": True})
        reply = _Attempt(request, timeout, cancel or threading.Event(), live).run()
        content, reasoning = split_reasoning(reply["content"], reply["reasoning"])
        if stop_sequences and not self.supports_stop_parameter:
            content = remove_content_after_stop_sequences(content, stop_sequences)
        usage = reply["usage"]
        return ChatMessage(
            role=MessageRole.ASSISTANT,
            content=content,
            raw=ReplyInfo(
                reasoning=reasoning,
                finish_reason=reply["finish_reason"],
                streamed=reply["streamed"],
                usage_estimated=reply["usage_estimated"],
            ),
            token_usage=TokenUsage(input_tokens=usage[0], output_tokens=usage[1]) if usage else None,
        )

    def cost(self, usage: TokenUsage) -> float | None:
        """Dollars for this usage, or None when unknown (no price for the model, or a custom endpoint
        whose price litellm cannot know)."""
        if self.api_base and (is_local(self.api_base) or provider_of(self.model_id) not in _PRICED_BY_BASE):
            return None
        try:
            prompt, completion = litellm.cost_per_token(
                model=self.model_id, prompt_tokens=usage.input_tokens, completion_tokens=usage.output_tokens
            )
        except Exception:
            return None
        total = float(prompt + completion)
        return total if total > 0 else None


# providers whose api_base is usually a region/deployment of the same priced service
_PRICED_BY_BASE = frozenset({"azure", "azure_ai", "bedrock", "vertex_ai"})


class _Attempt:
    """One request in a daemon thread; the caller waits on a queue it can stop waiting on."""

    def __init__(self, request: dict[str, Any], timeout: float, cancel: threading.Event, live) -> None:
        self.request = request
        self.timeout = timeout
        self.cancel = cancel
        self.live = live
        self.items: queue.SimpleQueue = queue.SimpleQueue()
        self.abandoned = threading.Event()

    def _worker(self) -> None:
        try:
            response = litellm.completion(**self.request)
            if not self.request.get("stream"):
                self.items.put(("whole", response))
                return
            for chunk in response:
                if self.abandoned.is_set():  # nobody is listening any more: stop reading
                    return
                self.items.put(("chunk", chunk))
            # litellm fills in a tokenizer count when the server sent no usage: that is an estimate
            sent = any(getattr(c, "usage", None) for c in getattr(response, "chunks", None) or [])
            self.items.put(("end", sent))
        except BaseException as exc:  # handed to the waiting thread, which classifies it
            self.items.put(("error", exc))

    def run(self) -> dict[str, Any]:
        threading.Thread(target=self._worker, name="llm-request", daemon=True).start()
        content: list[str] = []
        reasoning: list[str] = []
        out: dict[str, Any] = {
            "finish_reason": None,
            "usage": None,
            "usage_estimated": False,
            "streamed": bool(self.request.get("stream")),
        }
        last = time.monotonic()
        idle_limit = self.timeout + 5.0  # litellm's own timeout fires first; this catches a stuck client
        try:
            while True:
                if self.cancel.is_set():
                    raise CallCancelled()
                try:
                    kind, item = self.items.get(timeout=POLL_S)
                except queue.Empty:
                    if time.monotonic() - last > idle_limit:
                        raise TransientModelError(
                            f"no reply from the model server for {self.timeout:.0f} s", "timeout"
                        ) from None
                    continue
                last = time.monotonic()
                if kind == "error":
                    raise classify(item, self.timeout) from item
                if kind == "end":
                    out["usage_estimated"] = not item
                    break
                if kind == "whole":
                    _read_whole(item, content, reasoning, out)
                    break
                _read_chunk(item, content, reasoning, out, self.live)
        except BaseException:
            self.abandoned.set()
            raise
        if self.cancel.is_set():
            raise CallCancelled()
        out["content"], out["reasoning"] = "".join(content), "".join(reasoning)
        return out


def _read_chunk(chunk, content: list[str], reasoning: list[str], out: dict[str, Any], live) -> None:
    usage = getattr(chunk, "usage", None)
    if usage and getattr(usage, "prompt_tokens", None) is not None:
        out["usage"] = (int(usage.prompt_tokens or 0), int(usage.completion_tokens or 0))
    if not chunk.choices:
        return
    choice = chunk.choices[0]
    if getattr(choice, "finish_reason", None):
        out["finish_reason"] = choice.finish_reason
    delta = getattr(choice, "delta", None)
    if delta is None:
        return
    text = getattr(delta, "content", None) or ""
    thinking = getattr(delta, "reasoning_content", None) or getattr(delta, "reasoning", None) or ""
    if text:
        content.append(text)
    if thinking:
        reasoning.append(thinking)
    if (text or thinking) and live is not None:
        live(text, thinking)


def _read_whole(response, content: list[str], reasoning: list[str], out: dict[str, Any]) -> None:
    if not response.choices:
        raise TransientModelError("the model server returned no choices", "server")
    choice = response.choices[0]
    content.append(choice.message.content or "")
    reasoning.append(getattr(choice.message, "reasoning_content", None) or "")
    out["finish_reason"] = getattr(choice, "finish_reason", None)
    usage = getattr(response, "usage", None)
    if usage and getattr(usage, "prompt_tokens", None):
        out["usage"] = (int(usage.prompt_tokens or 0), int(usage.completion_tokens or 0))


def split_reasoning(content: str, reasoning: str) -> tuple[str, str]:
    """Move `<think>…</think>` out of the reply text (Qwen3, DeepSeek-R1 distills served without a
    reasoning parser). A reply that starts inside the block (the template opened it) ends at `</think>`."""
    if "</think>" not in content:
        return content, reasoning
    head, _, tail = content.rpartition("</think>")
    thought = head.replace("<think>", "", 1).strip()
    joined = "\n\n".join(part for part in (reasoning.strip(), thought) if part)
    return tail.lstrip(), joined


def classify(exc: BaseException, timeout: float) -> Exception:
    """litellm's exception → what ResilientModel should do with it."""
    if isinstance(exc, CallCancelled | TransientModelError | FatalModelError | ContextOverflow):
        return exc
    e = litellm.exceptions
    text = _one_line(exc)
    status = getattr(exc, "status_code", None)
    if isinstance(exc, e.ContextWindowExceededError) or (
        isinstance(exc, e.BadRequestError) and any(w in text.lower() for w in _OVERFLOW_WORDS)
    ):
        found = _LIMIT.search(text)
        return ContextOverflow(text, int(found.group(1)) if found else None)
    if isinstance(exc, e.AuthenticationError | e.PermissionDeniedError) or status in (401, 403):
        return FatalModelError(f"the model provider rejected the API key ({status or 401}): {text}")
    if isinstance(exc, e.NotFoundError) or status == 404:
        return FatalModelError(f"unknown model or endpoint (404): {text}")
    if isinstance(exc, e.RateLimitError) or status == 429:
        return TransientModelError(f"rate limited (429): {text}", "rate_limit", retry_after_of(exc))
    if isinstance(exc, e.Timeout) or "timed out" in text.lower() or "timeout" in type(exc).__name__.lower():
        return TransientModelError(f"no reply within the {timeout:.0f} s request timeout", "timeout")
    if isinstance(exc, e.MidStreamFallbackError | e.APIConnectionError):
        return TransientModelError(f"connection to the model server failed: {text}", "connection")
    if isinstance(exc, e.InternalServerError | e.ServiceUnavailableError | e.BadGatewayError) or (
        isinstance(status, int) and status >= 500
    ):
        return TransientModelError(f"server error ({status or 500}): {text}", "server", retry_after_of(exc))
    if isinstance(exc, e.BadRequestError | e.UnprocessableEntityError) or status == 400:
        return FatalModelError(f"the model server rejected the request ({status or 400}): {text}")
    if isinstance(exc, ConnectionError | OSError):
        return TransientModelError(f"connection to the model server failed: {text}", "connection")
    return FatalModelError(f"model call failed: {type(exc).__name__}: {text}")


def retry_after_of(exc: BaseException) -> float | None:
    """Seconds from Retry-After / retry-after-ms (seconds or an HTTP date), if the server sent one."""
    headers = getattr(exc, "litellm_response_headers", None) or getattr(
        getattr(exc, "response", None), "headers", None
    )
    if not headers:
        return None
    lowered = {str(k).lower(): str(v) for k, v in dict(headers).items()}
    if "retry-after-ms" in lowered:
        try:
            return float(lowered["retry-after-ms"]) / 1000
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


_NOISE = re.compile(r"litellm\.|\b\w+Exception - |\b(?:\w+Error: )+")


def _one_line(exc: BaseException) -> str:
    """litellm's message without its wrapper prefixes ("litellm.RateLimitError: RateLimitError: …")."""
    text = _NOISE.sub("", " ".join(str(exc).split())).strip()
    start = text.find("{")
    if start >= 0:  # a server's JSON error body: its message is the readable part
        try:
            body, _ = json.JSONDecoder().raw_decode(text[start:])
        except ValueError:
            body = None
        if isinstance(body, dict):
            inner = body.get("error") if isinstance(body.get("error"), dict) else body
            message = inner.get("message") if isinstance(inner, dict) else None
            if isinstance(message, str) and message:
                text = (text[:start] + message).strip()
    return (text or type(exc).__name__)[:300]


# -- the context window ------------------------------------------------------------------------------------


def learn_context_window(model_id: str, api_base: str | None, timeout: float = 3.0) -> tuple[int, str] | None:
    """The window as the serving side knows it: the server's own word for a custom endpoint (vLLM
    `/v1/models` max_model_len, ollama `/api/show`), else litellm's model info. None when nobody knows."""
    if api_base:
        found = _ask_server(model_id, api_base, timeout)
        if found:
            return found
    try:
        info = litellm.get_model_info(model_id)
    except Exception:
        return None
    window = info.get("max_input_tokens") or info.get("max_tokens")
    return (int(window), "litellm") if window else None


def _ask_server(model_id: str, api_base: str, timeout: float) -> tuple[int, str] | None:
    name = model_id.split("/", 1)[1] if "/" in model_id else model_id
    base = api_base.rstrip("/")
    if provider_of(model_id) in ("ollama", "ollama_chat"):
        root = base[: -len("/v1")] if base.endswith("/v1") else base
        body = _fetch_json(f"{root}/api/show", {"model": name}, timeout)
        return _ollama_window(body) if body else None
    body = _fetch_json(f"{base}/models", None, timeout)
    for entry in (body or {}).get("data") or []:
        if isinstance(entry, dict) and entry.get("max_model_len") and entry.get("id") in (name, model_id):
            return int(entry["max_model_len"]), "server"
    return None


def _ollama_window(body: dict[str, Any]) -> tuple[int, str] | None:
    # num_ctx (what ollama actually runs with) beats the model's trained context_length
    found = re.search(r"^num_ctx\s+(\d+)", str(body.get("parameters") or ""), re.M)
    if found:
        return int(found.group(1)), "server"
    for key, value in (body.get("model_info") or {}).items():
        if key.endswith(".context_length") and isinstance(value, int):
            return value, "server"
    return None


def _fetch_json(url: str, payload: dict | None, timeout: float) -> dict[str, Any] | None:
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (the user's endpoint)
            body = json.loads(response.read(2_000_000))
    except (OSError, ValueError):
        return None
    return body if isinstance(body, dict) else None
