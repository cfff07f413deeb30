"""How a plain Python function becomes a tool the agent can call, and what happens around every call.

A tool is a function `fn(ctx, arg, ...) -> result` with type hints and a Google-style docstring,
registered with `@agent_tool` (`sensitive=True` for anything that launches, uploads, deletes or spends).
`ToolGate.invoke` is the single path from agent code to a tool: it validates the arguments, records a
`tool_call` event, asks for approval when the tool is sensitive, runs it, scrubs secrets out of the
result and records a `tool_result` event. There is no other way in: the sandbox exposes only closures
over the gate (see agent/sandbox.py).
"""

from __future__ import annotations

import inspect
import itertools
import re
import threading
import time
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ToolError
from ..events import Kind


class ApprovalDenied(ToolError):
    """The human (or the headless policy, or the budget) said no. The reason reaches the agent."""


class Interrupted(ToolError):
    """The user interrupted the run while this call was in flight."""


@dataclass(frozen=True)
class ToolSpec:
    name: str
    fn: Callable[..., Any]
    description: str
    inputs: dict[str, dict[str, Any]]
    output_type: str
    sensitive: bool = False
    # For sensitive tools: a function (ctx, arguments) -> {"gpu_hours": …, "usd": …, "summary": …}.
    estimate: Callable[..., dict[str, Any]] | None = None
    # For tools that run code: (ctx, arguments) -> the workspace script to pin at approval (tools/pinning.py),
    # or a pin the tool builds itself (uploads); the tool then receives it as its `pinned` argument, which
    # agent code can never pass.
    pin: Callable[..., str | None] | None = None


# Arguments the gate supplies itself; a call from agent code that names one is refused.
TRUSTED_PARAMS = frozenset({"pinned"})


REGISTRY: dict[str, ToolSpec] = {}

_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", list: "array", dict: "object"}


def agent_tool(
    fn: Callable | None = None,
    *,
    sensitive: bool = False,
    estimate: Callable[..., dict[str, Any]] | None = None,
    output_type: str = "any",
    pin: Callable[..., str | None] | None = None,
):
    """Register a function as an agent tool (its name is the tool name the agent sees)."""

    def register(f: Callable) -> Callable:
        description, arg_docs = _parse_docstring(f)
        inputs: dict[str, dict[str, Any]] = {}
        hints = typing.get_type_hints(f)
        params = list(inspect.signature(f).parameters.values())[1:]  # skip ctx
        for p in params:
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name in TRUSTED_PARAMS:
                continue
            json_type, nullable = _json_type(hints.get(p.name, Any))
            spec: dict[str, Any] = {"type": json_type, "description": arg_docs.get(p.name, p.name)}
            if p.default is not p.empty:
                spec["nullable"] = True
            elif nullable:
                spec["nullable"] = True
            inputs[p.name] = spec
        REGISTRY[f.__name__] = ToolSpec(
            f.__name__, f, description, inputs, output_type, sensitive, estimate, pin
        )
        return f

    return register(fn) if fn is not None else register


def _json_type(hint: Any) -> tuple[str, bool]:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        json_type, _ = _json_type(args[0]) if len(args) == 1 else ("any", False)
        return json_type, True
    base = origin or hint
    return _JSON_TYPES.get(base, "any"), False


def _parse_docstring(f: Callable) -> tuple[str, dict[str, str]]:
    doc = inspect.cleandoc(f.__doc__ or f.__name__)
    head, _, rest = doc.partition("\nArgs:\n")
    args: dict[str, str] = {}
    current = None
    for line in rest.splitlines():
        if re.match(r"^\S", line):  # a new section (Returns: …) ends the Args block
            break
        m = re.match(r"^\s+(\w+)(?: \([^)]*\))?:\s*(.*)$", line)
        if m:
            current = m.group(1)
            args[current] = m.group(2).strip()
        elif current and line.strip():
            args[current] += " " + line.strip()
    return head.strip(), args


@dataclass
class ToolContext:
    """What tools may touch: the session's workspace, its emitter, its jobs and its approvals."""

    session_id: str
    workspace: Path
    emitter: Any  # bus.Emitter
    approvals: Any = None  # agent.approvals.ApprovalQueue
    jobs: Any = None  # jobs.JobManager
    redactor: Any = None
    settings: dict[str, Any] = field(default_factory=dict)
    hub_api: Any = None  # a huggingface_hub.HfApi-like object; tests inject a double
    http: Any = None  # tools.http.Http; tests inject recorded responses
    plan: list[dict[str, Any]] = field(default_factory=list)

    def emit(self, kind: str, payload: dict[str, Any]):
        return self.emitter.emit(kind, payload)


class ToolGate:
    """The one door between agent code and tools."""

    def __init__(self, ctx: ToolContext, specs: dict[str, ToolSpec] | None = None):
        self.ctx = ctx
        self.specs = dict(specs if specs is not None else REGISTRY)
        self.interrupted = threading.Event()
        self._ids = itertools.count(1)
        self.calls: list[tuple[int, str, str]] = []  # (step, tool, outcome) for the doom-loop guard
        self.approved_pins: dict[str, Any] = {}  # script -> the last approved Pin (diffs are against it)

    def invoke(self, name: str, args: tuple, kwargs: dict[str, Any]) -> Any:
        spec = self.specs[name]
        call_id = f"{self.ctx.emitter.step or 0}.{next(self._ids)}"
        try:
            bound = _agent_signature(spec.fn).bind(self.ctx, *args, **kwargs)
        except TypeError as exc:
            raise ToolError(f"{name}: {exc}. Signature: {name}{_public_signature(spec.fn)}") from None
        arguments = {k: v for k, v in bound.arguments.items() if k != "ctx"}
        self.ctx.emit(Kind.TOOL_CALL, {"call_id": call_id, "tool": name, "arguments": arguments})
        # the tool's own run time (shown per step): not the wait for approval; none for a call that never ran
        started: float | None = None if spec.sensitive else time.monotonic()
        try:
            if self.interrupted.is_set():
                raise Interrupted("the run was interrupted by the user; this call did not run")
            trusted: dict[str, Any] = {}
            if spec.sensitive:
                arguments, trusted = self._approve(spec, arguments)
                started = time.monotonic()
            result = spec.fn(self.ctx, **arguments, **trusted)
        except ToolError as exc:
            self._result(call_id, name, error=str(exc), kind=type(exc).__name__, started=started)
            raise
        except Exception as exc:  # a bug or an unexpected library error: the agent still gets one line
            message = f"{name} failed: {type(exc).__name__}: {exc}"
            self._result(call_id, name, error=message, kind="error", started=started)
            raise ToolError(message) from exc
        if self.ctx.redactor is not None:
            result = self.ctx.redactor.scrub(result, deep=True)  # what the model reads: the thorough pass
        self._result(call_id, name, result=result, started=started)
        return result

    def _approve(self, spec: ToolSpec, arguments: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Ask, and return (the arguments to run with, the trusted arguments the gate adds)."""
        if self.ctx.approvals is None:
            raise ApprovalDenied(f"{spec.name} needs approval and no approver is attached")
        estimate = self._estimate(spec, arguments)
        pin = self._pin(spec, arguments)
        decision = self.ctx.approvals.request(
            spec.name, arguments, estimate, pinned=pin.view() if pin else None
        )
        if decision.status == "interrupted":
            raise Interrupted(f"{spec.name} was not run: the run was interrupted while it awaited approval")
        if not decision.approved:
            raise ApprovalDenied(f"{spec.name} was denied: {decision.reason or 'no reason given'}")
        if decision.edited is not None:
            edited = {**arguments, **{k: v for k, v in decision.edited.items() if k not in TRUSTED_PARAMS}}
            if spec.estimate is not None and hasattr(self.ctx.approvals, "budget"):
                try:  # the budget counts what the edited request costs, not the original
                    self.ctx.approvals.budget.recharge(estimate, spec.estimate(self.ctx, edited))
                except Exception:
                    pass
            if pin is not None:  # the person edited what runs: pin the edited call (job_started records it)
                pin = self._pin(spec, edited)
            arguments = edited
        if pin is None:
            return arguments, {}
        self.approved_pins[pin.key] = pin
        return arguments, {"pinned": pin}

    def _estimate(self, spec: ToolSpec, arguments: dict[str, Any]) -> dict[str, Any]:
        if spec.estimate is None:
            return {}
        try:
            return spec.estimate(self.ctx, arguments)
        except ToolError:  # the estimate found the call invalid: refuse it before anyone is asked
            raise
        except Exception as exc:  # an estimate must never block asking
            return {"error": str(exc)}

    def _pin(self, spec: ToolSpec, arguments: dict[str, Any]):
        if spec.pin is None:
            return None
        from .pinning import pin_script

        made = spec.pin(self.ctx, arguments)  # a script to snapshot, or a pin the tool made itself
        if made is None or not isinstance(made, str | Path):
            return made
        return pin_script(self.ctx.workspace, made, self.approved_pins.get(str(made)))

    def _result(
        self,
        call_id: str,
        name: str,
        *,
        result: Any = None,
        error: str | None = None,
        kind: str = "",
        started: float | None = None,
    ) -> None:
        payload: dict[str, Any] = {"call_id": call_id, "tool": name}
        if started is not None:
            payload["duration_s"] = round(time.monotonic() - started, 3)
        if error is not None:
            payload.update(error=error, error_kind=kind)
            self.calls.append((self.ctx.emitter.step or 0, name, "error:" + error[:200]))
        else:
            payload["result"] = _preview(result)
            self.calls.append((self.ctx.emitter.step or 0, name, repr(result)[:200]))
        del self.calls[:-500]
        self.ctx.emit(Kind.TOOL_RESULT, payload)


def _agent_signature(fn: Callable) -> inspect.Signature:
    """The signature agent code calls: without the parameters only the gate may fill."""
    sig = inspect.signature(fn)
    return sig.replace(parameters=[p for p in sig.parameters.values() if p.name not in TRUSTED_PARAMS])


def _public_signature(fn: Callable) -> str:
    sig = _agent_signature(fn)
    return str(sig.replace(parameters=list(sig.parameters.values())[1:]))


def _preview(value: Any, limit: int = 4000) -> Any:
    """Results are stored whole when small; long strings are cut (the agent still got all of it)."""
    if isinstance(value, str) and len(value) > limit:
        return value[:limit] + f"… [{len(value) - limit} more characters]"
    if isinstance(value, dict | list):
        from ..events import dumps

        text = dumps(value)
        if len(text) > limit * 2:
            return text[: limit * 2] + f"… [{len(text) - limit * 2} more characters]"
    return value
