"""A local OpenAI-compatible chat server that answers the way real providers do (tests and benchmarks).

It is a real HTTP server on 127.0.0.1 (stdlib `ThreadingHTTPServer` in a thread) speaking the chat
completions API: SSE streaming with `data: {...}` chunks and `[DONE]`, `usage` in the last chunk (or
none), `reasoning_content` deltas, `finish_reason`, honoured `stop` sequences and `max_tokens`; the error
bodies vLLM and OpenAI send (429 with Retry-After, 5xx, context length exceeded, 401, unknown model);
a hung response (headers, then nothing) and a connection dropped mid-stream. It also answers vLLM's
`GET /v1/models` (with `max_model_len`) and ollama's `POST /api/show`.

Each test scripts it with a queue of behaviours (`server.push(Reply(...), rate_limited(1), ...)`); when
the queue is empty `default(request)` answers. Every request is recorded (`server.requests`) so a test
can assert what was sent: the prompt size, that a step's code is not repeated, which host got it.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """A normal answer. Streamed in `chunk_chars` pieces when the client asks for a stream."""

    text: str
    reasoning: str | None = None  # sent as `reasoning_content` deltas before the content (vLLM, DeepSeek)
    usage: bool = True  # False: no usage at all (some servers, some proxies)
    finish_reason: str = "stop"
    chunk_chars: int = 12
    chunk_delay: float = 0.0


@dataclass
class Fail:
    """An HTTP error with the body a provider would send."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Hang:
    """200 and the SSE headers, then nothing until `seconds` pass or the server stops."""

    seconds: float = 60.0


@dataclass
class Drop:
    """Start streaming `text`, then close the connection after `after_chunks` chunks (no [DONE])."""

    text: str = "Thought: I will look at the data first.\n<code>\nprint('partial"
    after_chunks: int = 2


def rate_limited(retry_after: float | None = 1) -> Fail:
    headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
    return Fail(
        429,
        {"error": {"message": "Rate limit reached for requests", "type": "rate_limit_error", "code": "429"}},
        headers,
    )


def server_error(status: int = 500) -> Fail:
    text = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}.get(status, "error")
    return Fail(status, {"error": {"message": text, "type": "server_error", "code": status}})


def context_exceeded(limit: int = 32768, requested: int = 40000, style: str = "vllm") -> Fail:
    """The 400 a server sends when the prompt does not fit, in vLLM's or OpenAI's shape."""
    if style == "openai":
        return Fail(
            400,
            {
                "error": {
                    "message": f"This model's maximum context length is {limit} tokens. However, your messages "
                    f"resulted in {requested} tokens. Please reduce the length of the messages.",
                    "type": "invalid_request_error",
                    "param": "messages",
                    "code": "context_length_exceeded",
                }
            },
        )
    return Fail(
        400,
        {
            "object": "error",
            "message": f"This model's maximum context length is {limit} tokens. However, you requested "
            f"{requested} tokens ({requested - 512} in the messages, 512 in the completion). Please reduce "
            "the length of the messages or completion.",
            "type": "BadRequestError",
            "param": None,
            "code": 400,
        },
    )


def unauthorized() -> Fail:
    return Fail(
        401,
        {
            "error": {
                "message": "Incorrect API key provided: sk-test****. You can find your API key at the dashboard.",
                "type": "invalid_request_error",
                "code": "invalid_api_key",
            }
        },
    )


def unknown_model(name: str = "no-such-model") -> Fail:
    return Fail(
        404,
        {
            "object": "error",
            "message": f"The model `{name}` does not exist.",
            "type": "NotFoundError",
            "param": None,
            "code": 404,
        },
    )


@dataclass
class Request:
    """One recorded request."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    at: float
    status: int = 200  # what the server answered

    @property
    def messages(self) -> list[dict]:
        return (self.body or {}).get("messages") or []

    @property
    def prompt_text(self) -> str:
        return "\n".join(_content_text(m.get("content")) for m in self.messages)

    @property
    def prompt_chars(self) -> int:
        return len(self.prompt_text)


def _content_text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content or "")


def final_answer_reply(request: Request) -> Reply:
    return Reply("Thought: Nothing more to do.\n<code>\nfinal_answer('done')\n</code>")


class LLMServer:
    """Start with `with LLMServer() as server:`; `server.base_url` is the api_base (…/v1)."""

    def __init__(
        self,
        model: str = "test-model",
        *,
        max_model_len: int | None = None,
        report_max_model_len: bool = True,
        ollama_context: int | None = None,
        ollama_num_ctx: int | None = None,
        chars_per_token: float = 4.0,
        default: Callable[[Request], Any] = final_answer_reply,
    ):
        self.model = model
        self.max_model_len = max_model_len  # also enforced: a longer prompt gets the vLLM 400
        self.report_max_model_len = report_max_model_len  # False: /v1/models does not say (a proxy)
        self.ollama_context = ollama_context
        self.ollama_num_ctx = ollama_num_ctx
        self.chars_per_token = chars_per_token
        self.default = default
        self.behaviours: deque[Any] = deque()
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- control -------------------------------------------------------------------------------------------

    def push(self, *behaviours: Any) -> LLMServer:
        with self._lock:
            self.behaviours.extend(behaviours)
        return self

    @property
    def port(self) -> int:
        assert self._httpd is not None
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def chat_requests(self) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def start(self) -> LLMServer:
        server = self

        class Handler(_Handler):
            owner = server

        self._httpd = _Server(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="llm-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def __enter__(self) -> LLMServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- what to answer ------------------------------------------------------------------------------------

    def _next(self, request: Request) -> Any:
        if self.max_model_len:  # checked first, as a real server does: the queued reply waits for a retry
            body = request.body or {}
            wanted = self.prompt_tokens(request) + int(
                body.get("max_tokens") or body.get("max_completion_tokens") or 0
            )
            if wanted > self.max_model_len:
                return context_exceeded(self.max_model_len, wanted)
        with self._lock:
            if self.behaviours:
                return self.behaviours.popleft()
        return self.default(request)

    def prompt_tokens(self, request: Request) -> int:
        """The server's own count (its `chars_per_token` tokenizer), as it enforces the window."""
        return int(request.prompt_chars / self.chars_per_token)

    def usage_for(self, request: Request, completion: str) -> dict[str, int]:
        prompt = self.prompt_tokens(request)
        out = max(1, int(len(completion) / self.chars_per_token))
        return {"prompt_tokens": prompt, "completion_tokens": out, "total_tokens": prompt + out}


class _Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:  # a client hanging up is normal here
        pass


class _Handler(BaseHTTPRequestHandler):
    owner: LLMServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args) -> None:  # quiet: tests read the recorded requests instead
        pass

    def _record(self, body: Any) -> Request:
        request = Request(self.command, self.path, dict(self.headers.items()), body, time.time())
        with self.owner._lock:
            self.owner.requests.append(request)
        return request

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = (json.dumps(body) if not isinstance(body, str) else body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _read_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return raw.decode(errors="replace")

    def do_GET(self) -> None:
        self._record(None)
        if self.path.rstrip("/").endswith("/models"):
            entry: dict[str, Any] = {"id": self.owner.model, "object": "model", "owned_by": "vllm"}
            if self.owner.max_model_len and self.owner.report_max_model_len:
                entry["max_model_len"] = self.owner.max_model_len
            self._json(200, {"object": "list", "data": [entry]})
        else:
            self._json(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self) -> None:
        body = self._read_body()
        request = self._record(body)
        if self.path.rstrip("/") == "/api/show":
            self._ollama_show(body or {})
        elif self.path.rstrip("/").endswith("/chat/completions"):
            self._chat(request)
        else:
            self._json(404, {"error": {"message": f"no route {self.path}"}})

    def _ollama_show(self, body: dict) -> None:
        if not self.owner.ollama_context:
            self._json(404, {"error": f"model '{body.get('model') or body.get('name')}' not found"})
            return
        parameters = f"num_ctx {self.owner.ollama_num_ctx}\n" if self.owner.ollama_num_ctx else ""
        self._json(
            200,
            {
                "parameters": parameters + 'stop "<|im_end|>"',
                "details": {"family": "qwen3", "parameter_size": "8.2B"},
                "model_info": {
                    "general.architecture": "qwen3",
                    "qwen3.context_length": self.owner.ollama_context,
                },
            },
        )

    # -- chat completions ----------------------------------------------------------------------------------

    def _chat(self, request: Request) -> None:
        body = request.body if isinstance(request.body, dict) else {}
        behaviour = self.owner._next(request)
        if callable(behaviour) and not isinstance(behaviour, type):
            behaviour = behaviour(request)
        if isinstance(behaviour, Fail):
            request.status = behaviour.status
            self._json(behaviour.status, behaviour.body, behaviour.headers)
            return
        if isinstance(behaviour, Hang):
            self._start_stream()
            self.owner._stopping.wait(behaviour.seconds)
            self.close_connection = True
            return
        if isinstance(behaviour, Drop):
            self._start_stream()
            for piece in _pieces(behaviour.text, 8)[: behaviour.after_chunks]:
                self._chunk(self._sse(self._delta({"content": piece})))
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)  # mid-body: the chunked stream never terminates
            self.close_connection = True
            return
        reply: Reply = behaviour if isinstance(behaviour, Reply) else Reply(str(behaviour))
        text, finish = _apply_limits(reply.text, reply.finish_reason, body)
        usage = self.owner.usage_for(request, (reply.reasoning or "") + text) if reply.usage else None
        if body.get("stream"):
            self._stream(reply, text, finish, usage, body)
        else:
            message: dict[str, Any] = {"role": "assistant", "content": text}
            if reply.reasoning:
                message["reasoning_content"] = reply.reasoning
            response: dict[str, Any] = {
                "id": "chatcmpl-test",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": self.owner.model,
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            }
            if usage:
                response["usage"] = usage
            self._json(200, response)

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    def _sse(self, obj: Any) -> bytes:
        return f"data: {obj if isinstance(obj, str) else json.dumps(obj)}\n\n".encode()

    def _delta(self, delta: dict, finish: str | None = None) -> dict:
        return {
            "id": "chatcmpl-test",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": self.owner.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    def _stream(self, reply: Reply, text: str, finish: str, usage: dict | None, body: dict) -> None:
        self._start_stream()
        try:
            self._chunk(self._sse(self._delta({"role": "assistant", "content": ""})))
            for piece in _pieces(reply.reasoning or "", reply.chunk_chars):
                self._chunk(self._sse(self._delta({"reasoning_content": piece})))
                self._pace(reply)
            for piece in _pieces(text, reply.chunk_chars):
                self._chunk(self._sse(self._delta({"content": piece})))
                self._pace(reply)
            self._chunk(self._sse(self._delta({}, finish)))
            if usage and (body.get("stream_options") or {}).get("include_usage"):
                last = self._delta({})
                last["choices"] = []
                last["usage"] = usage
                self._chunk(self._sse(last))
            self._chunk(self._sse("[DONE]"))
            self._chunk(b"")  # end of the chunked body
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):  # the client gave up on us (an interrupt)
            self.close_connection = True

    def _pace(self, reply: Reply) -> None:
        self.wfile.flush()
        if reply.chunk_delay:
            time.sleep(reply.chunk_delay)


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] if text else []


def _apply_limits(text: str, finish: str, body: dict) -> tuple[str, str]:
    """What a server really returns: cut at the first stop sequence, or at max_tokens (finish=length)."""
    stops = body.get("stop") or []
    if isinstance(stops, str):
        stops = [stops]
    cut = min((i for i in (text.find(s) for s in stops if s) if i >= 0), default=-1)
    if cut >= 0:
        return text[:cut], "stop"
    limit = body.get("max_tokens") or body.get("max_completion_tokens")
    if limit and len(text) / 4 > limit:
        return text[: int(limit) * 4], "length"
    return text, finish
