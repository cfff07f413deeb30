"""One model call, made to survive a 10-hour run: retries with visible, interruptible waits; compaction
and a retry when the prompt does not fit; an empty reply handed back to the model; a late reply after an
interrupt thrown away; every call, token batch, wait and reply recorded as an event.

`ResilientModel` wraps the session's model (a streaming litellm model or a `script:` policy) and is what
smolagents' CodeAgent calls. It knows nothing about litellm: the inner model raises the errors below.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smolagents.models import ChatMessage, MessageRole, Model
from smolagents.monitoring import TokenUsage

from ..events import Kind
from .models import ModelSettings


class ModelCallError(Exception):
    """A model call failed in a way the user should read: `message` is one line."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class TransientModelError(ModelCallError):
    """Worth retrying: rate limited, server error, timeout, dropped connection."""

    def __init__(self, message: str, kind: str, retry_after: float | None = None):
        super().__init__(message)
        self.kind = kind  # rate_limit | server | timeout | connection
        self.retry_after = retry_after


class FatalModelError(ModelCallError):
    """Retrying cannot help: bad key, unknown model, a request the server rejects."""


class ContextOverflow(ModelCallError):
    """The server says the prompt does not fit; `limit` is its window when it said so."""

    def __init__(self, message: str, limit: int | None = None):
        super().__init__(message)
        self.limit = limit


class CallCancelled(ModelCallError):
    """The user interrupted the session while the call was in flight."""

    def __init__(self) -> None:
        super().__init__("the model call was interrupted by the user")


@dataclass
class ReplyInfo:
    """What a reply carried besides its text (set on `ChatMessage.raw` by streaming models)."""

    reasoning: str = ""
    finish_reason: str | None = None
    streamed: bool = False
    usage_estimated: bool = False  # the usage was counted on our side (the server sent none)


EMPTY_REPLY_NOTE = (
    "Your last reply was empty. Reply with a short 'Thought:' and one <code> block, or call final_answer()."
)
MAX_EMPTY_REPLIES = 2  # handed back to the model this many times per step before it counts as a failed step
MAX_OVERFLOW_RETRIES = 3
DELTA_INTERVAL_S = 0.25  # live tokens are batched into one event per quarter second


class LiveSink:
    """Collects streamed tokens and emits them as `model_delta` events, a few per second."""

    def __init__(self, emitter, clock: Callable[[], float] = time.monotonic):
        self.emitter = emitter
        self.clock = clock
        self.tokens = 0
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._last = clock()

    def __call__(self, text: str = "", reasoning: str = "") -> None:
        if text:
            self._text.append(text)
        if reasoning:
            self._reasoning.append(reasoning)
        self.tokens += 1
        if self.clock() - self._last >= DELTA_INTERVAL_S:
            self.flush()

    def flush(self) -> None:
        if not self._text and not self._reasoning:
            return
        payload: dict[str, Any] = {"tokens": self.tokens}
        if self._text:
            payload["text"] = "".join(self._text)
        if self._reasoning:
            payload["reasoning"] = "".join(self._reasoning)
        self._text, self._reasoning = [], []
        self._last = self.clock()
        self.emitter.emit(Kind.MODEL_DELTA, payload)


class ResilientModel(Model):
    """The model smolagents calls. `hooks` is the Supervisor: it owns the interrupt, compaction and the
    token estimate; this class owns the retry loop and the events of a call."""

    def __init__(self, inner: Model, hooks, settings: ModelSettings | None = None):
        super().__init__(model_id=inner.model_id)
        self.inner = inner
        self.hooks = hooks
        self.settings = settings or ModelSettings()
        self.random = random.Random()

    def generate(
        self, messages, stop_sequences=None, response_format=None, tools_to_call_from=None, **kwargs
    ):
        hooks, settings = self.hooks, self.settings
        attempt, waited, empties, overflows = 0, 0.0, 0, 0
        messages = list(messages)
        while True:
            if hooks.cancelled.is_set():
                raise CallCancelled()
            prompt_chars = message_chars(messages)
            hooks.emitter.emit(
                Kind.MODEL_CALL,
                {
                    "attempt": attempt + 1,
                    "prompt_chars": prompt_chars,
                    "prompt_tokens": hooks.estimate_tokens.for_chars(prompt_chars),
                    "messages": len(messages),
                    "window": hooks.context_window,
                },
            )
            live = LiveSink(hooks.emitter)
            try:
                message = self._call_inner(
                    messages, stop_sequences, response_format, tools_to_call_from, live
                )
            except CallCancelled:
                raise
            except ContextOverflow as exc:
                overflows += 1
                rebuilt = (
                    hooks.on_context_overflow(exc, overflows) if overflows <= MAX_OVERFLOW_RETRIES else None
                )
                if rebuilt is None:
                    raise FatalModelError(
                        f"the prompt does not fit the model's window even after compaction: {exc.message}"
                    ) from exc
                messages = rebuilt
                continue
            except TransientModelError as exc:
                attempt += 1
                left = settings.retry_budget_s - waited
                if attempt > settings.retry_attempts or left <= 0:
                    raise FatalModelError(
                        f"the model is unavailable after {attempt} tries over {waited:.0f} s of waiting: "
                        f"{exc.message}"
                    ) from exc
                wait = min(self._backoff(attempt, exc.retry_after), left)
                self._wait(attempt, wait, exc.message, exc.kind)
                waited += wait
                continue
            finally:
                live.flush()
            if hooks.cancelled.is_set():  # arrived after the interrupt: never executed
                raise CallCancelled()
            info = message.raw if isinstance(message.raw, ReplyInfo) else ReplyInfo()
            text = message.content if isinstance(message.content, str) else str(message.content or "")
            estimated = self._settle_usage(message, info, prompt_chars, text)
            if not text.strip() and info.finish_reason != "length" and empties < MAX_EMPTY_REPLIES:
                empties += 1
                hooks.on_usage(message.token_usage, estimated, self._cost(message.token_usage))  # still paid
                hooks.emitter.emit(
                    Kind.MODEL_RETRY,
                    {
                        "attempt": empties,
                        "max_attempts": MAX_EMPTY_REPLIES,
                        "wait_s": 0,
                        "kind": "empty",
                        "reason": "the model sent an empty reply; asked again",
                    },
                )
                messages = [
                    *messages,
                    ChatMessage(role=MessageRole.USER, content=[{"type": "text", "text": EMPTY_REPLY_NOTE}]),
                ]
                continue
            hooks.on_model_output(message, info, estimated, self._cost(message.token_usage))
            return message

    def _settle_usage(self, message, info: ReplyInfo, prompt_chars: int, text: str) -> bool:
        """Fill in the usage of a reply that came without one (estimated: True) and learn from the real
        ones how many characters a token is for this model."""
        if message.token_usage is None:
            message.token_usage = TokenUsage(
                input_tokens=self.hooks.estimate_tokens.for_chars(prompt_chars),
                output_tokens=max(1, (len(text) + len(info.reasoning)) // 4),
            )
            return True
        if not info.usage_estimated:
            self.hooks.estimate_tokens.calibrate(prompt_chars, message.token_usage.input_tokens)
        return info.usage_estimated

    def _call_inner(self, messages, stop_sequences, response_format, tools_to_call_from, live):
        extra: dict[str, Any] = {}
        if getattr(self.inner, "streams", False):
            extra = {"live": live, "cancel": self.hooks.cancelled}
        return self.inner.generate(
            messages,
            stop_sequences=stop_sequences,
            response_format=response_format,
            tools_to_call_from=tools_to_call_from,
            **extra,
        )

    def _cost(self, usage: TokenUsage) -> float | None:
        cost = getattr(self.inner, "cost", None)
        return cost(usage) if cost is not None else None

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        """Retry-After when the server gives one, else exponential backoff with jitter."""
        if retry_after is not None:
            return max(0.0, retry_after)
        s = self.settings
        base = min(s.retry_max_wait_s, s.retry_base_s * 2 ** (attempt - 1))
        return round(base * self.random.uniform(0.8, 1.2), 2)

    def _wait(self, attempt: int, wait: float, reason: str, kind: str) -> None:
        hooks = self.hooks
        hooks.emitter.emit(
            Kind.MODEL_RETRY,
            {
                "attempt": attempt,
                "max_attempts": self.settings.retry_attempts,
                "wait_s": round(wait, 2),
                "kind": kind,
                "reason": reason,
            },
        )
        if hooks.sleep(wait):  # True: interrupted while waiting
            raise CallCancelled()


def message_chars(messages) -> int:
    """Characters of text in a message list (what the server will tokenise)."""
    total = 0
    for m in messages:
        content = m.get("content") if isinstance(m, dict) else m.content
        if isinstance(content, list):
            total += sum(len(str(part.get("text", ""))) for part in content if isinstance(part, dict))
        else:
            total += len(str(content or ""))
    return total


def interruptible_sleep(event: threading.Event) -> Callable[[float], bool]:
    """A sleeper that wakes early when `event` is set; returns True when it did."""
    return lambda seconds: event.wait(max(0.0, seconds))
