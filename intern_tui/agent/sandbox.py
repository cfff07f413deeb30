"""The agent's code runs here: smolagents' restricted local executor, narrowed further.

smolagents' LocalPythonExecutor is an interpreter over the AST, not an OS sandbox; these layers close the
routes it leaves open:

- A minimal import allow-list (smolagents' safe base modules plus json); no os, subprocess, socket,
  shutil, sys, pathlib, io, open, eval, exec, globals, __import__.
- Tools reach agent code as bare closures over the ToolGate with empty `__globals__`: there is no tool
  object whose attributes lead to a runner, a file handle or the environment.
- Dunder attributes are refused by smolagents; we also refuse the interpreter-internals attributes that
  are not dunders — frames, code objects, tracebacks (`gi_frame`, `f_back`, `f_locals`, `co_code`, …) —
  whether written as `x.attr`, through `getattr`, or inside a `str.format` template. Without a frame or a
  code object there is no way back to the executor, the agent, or a real `eval`.
- `time.sleep` inside agent code wakes up when the user interrupts, so an interrupt is never stuck behind
  a long sleep.
- Observations, return values and error messages are scrubbed of known secret values before they reach
  the model (the second layer behind the tools never returning secrets in the first place).
"""

from __future__ import annotations

import ast
import re
import string
import threading
import types
from typing import Any

from smolagents.local_python_executor import (
    BASE_PYTHON_TOOLS,
    CodeOutput,
    InterpreterError,
    LocalPythonExecutor,
)
from smolagents.tools import Tool

from ..redact import Redactor
from ..tools.base import ToolGate, ToolSpec

AUTHORIZED_IMPORTS = ["json"]  # on top of smolagents' BASE_BUILTIN_MODULES (math, re, random, datetime, …)
_FORMAT_GUARD = "_checked_format"
_TIME_GUARD = "_interruptible_time"

# Attributes of generators, coroutines, frames, code objects and tracebacks: the way out of an AST
# interpreter. No legitimate agent code needs them.
_INTERNAL_ATTR = re.compile(r"^(gi|cr|ag|f|co|tb)_\w+$|^(func_\w+|im_\w+|mro)$")


def _forbidden_attr(name: Any) -> str | None:
    if not isinstance(name, str):
        return None
    if name.startswith("__") and name.endswith("__"):
        return f"Forbidden access to dunder attribute: {name}"
    if _INTERNAL_ATTR.match(name):
        return f"Forbidden access to interpreter internals: {name}"
    return None


class FunctionTool(Tool):
    """A smolagents Tool built from one of our ToolSpecs: it describes the tool to the model and forwards
    calls to the gate. It is never handed to agent code (the executor gets closures instead)."""

    skip_forward_signature_validation = True

    def __init__(self, spec: ToolSpec, gate: ToolGate):
        self.name = spec.name
        self.description = spec.description + (
            "\nNeeds human approval: the call blocks until decided; a denial raises an error with the reason."
            if spec.sensitive
            else ""
        )
        self.inputs = spec.inputs
        self.output_type = spec.output_type
        self._gate = gate
        super().__init__()

    def forward(self, *args, **kwargs):
        return self._gate.invoke(self.name, args, kwargs)


def _closure(name: str, call) -> types.FunctionType:
    """A function object whose only way back to us is a closure cell (unreachable without dunders) and
    whose globals are empty (nothing to find even if they were reached)."""

    def tool_function(*args, **kwargs):
        return call(*args, **kwargs)

    return types.FunctionType(
        tool_function.__code__, {"__builtins__": {}}, name, None, tool_function.__closure__
    )


def _safe_template(template: Any) -> None:
    if not isinstance(template, str):
        return
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError:
        return  # str.format will raise its own error
    for _, field_name, format_spec, _ in fields:
        for part in (field_name or "", format_spec or ""):
            for attr in re.findall(r"[.\[]([A-Za-z_]\w*)", "." + part):
                if _forbidden_attr(attr):
                    raise InterpreterError(f"{_forbidden_attr(attr)} (inside a format string)")


def _checked_format(obj: Any, name: str):
    method = getattr(obj, name)
    if not (isinstance(obj, str) or obj is str):
        return method

    def checked(*args, **kwargs):
        _safe_template(obj if isinstance(obj, str) else (args[0] if args else None))
        return method(*args, **kwargs)

    return checked


def _checked_getattr(obj: Any, name: str, *default):
    if problem := _forbidden_attr(name):
        raise InterpreterError(problem)
    if name in ("format", "format_map"):
        return _checked_format(obj, name)
    return getattr(obj, name, *default)


class _Guard(ast.NodeTransformer):
    """One pass over the agent's code before it runs:
    - refuses interpreter-internals attributes written literally;
    - `x.format` → `_checked_format(x, "format")` (and format_map), wherever it is read;
    - after `import time` / `from time import sleep`, swaps in the interruptible sleep."""

    def visit_Attribute(self, node: ast.Attribute):
        self.generic_visit(node)
        if _INTERNAL_ATTR.match(node.attr):
            raise InterpreterError(f"Forbidden access to interpreter internals: {node.attr}")
        if node.attr in ("format", "format_map") and isinstance(node.ctx, ast.Load):
            call = ast.Call(ast.Name(_FORMAT_GUARD, ast.Load()), [node.value, ast.Constant(node.attr)], [])
            return ast.copy_location(call, node)
        return node

    def visit_Import(self, node: ast.Import):
        patched = [node]
        for alias in node.names:
            if alias.name == "time":
                target = alias.asname or "time"
                patched.append(
                    _assign(
                        target,
                        ast.Call(ast.Name(_TIME_GUARD, ast.Load()), [ast.Name(target, ast.Load())], []),
                    )
                )
        return patched

    def visit_ImportFrom(self, node: ast.ImportFrom):
        patched = [node]
        if node.module == "time":
            for alias in node.names:
                if alias.name == "sleep":
                    target = alias.asname or "sleep"
                    patched.append(
                        _assign(
                            target,
                            ast.Attribute(
                                ast.Call(ast.Name(_TIME_GUARD, ast.Load()), [ast.Constant(None)], []),
                                "sleep",
                                ast.Load(),
                            ),
                        )
                    )
        return patched


def _assign(target: str, value: ast.expr) -> ast.Assign:
    return ast.Assign([ast.Name(target, ast.Store())], value)


def guard_code(code: str) -> str:
    """Rewrite (or refuse, raising InterpreterError) the agent's code; see `_Guard`."""
    if not any(marker in code for marker in ("format", "time", "_")):
        return code
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return code  # the executor reports the syntax error itself
    return ast.unparse(ast.fix_missing_locations(_Guard().visit(tree)))


class SandboxedExecutor(LocalPythonExecutor):
    def __init__(
        self,
        redactor: Redactor,
        interrupted: threading.Event | None = None,
        max_print_outputs_length: int = 20_000,
    ):
        # No wall-clock timeout: a sensitive tool call legitimately blocks until a human decides.
        # Runaway loops are still bounded by smolagents' operation and iteration limits.
        super().__init__(
            AUTHORIZED_IMPORTS, max_print_outputs_length=max_print_outputs_length, timeout_seconds=None
        )
        self.redactor = redactor
        self.interrupted = interrupted or threading.Event()

    def _sleep(self, seconds: float = 0) -> None:
        if self.interrupted.wait(max(0.0, float(seconds))):
            raise InterpreterError("interrupted by the user while sleeping")

    def _interruptible_time(self, module: Any) -> Any:
        """The `time` module agent code imported (smolagents gives each import a fresh copy), with a
        sleep that wakes on interrupt. Called with None for `from time import sleep`."""
        if module is None:
            return types.SimpleNamespace(sleep=self._sleep)
        if isinstance(module, types.ModuleType) and module.__name__ == "time":
            module.sleep = self._sleep
        return module

    def send_tools(self, tools: dict[str, Any]) -> None:
        exposed: dict[str, Any] = {}
        for name, tool in tools.items():
            if isinstance(tool, FunctionTool):
                exposed[name] = _closure(name, tool.forward)
            elif name == "final_answer":
                exposed[name] = _closure(name, lambda answer=None, *a, **k: answer)
            else:
                raise TypeError(f"refusing to expose {name!r} ({type(tool).__name__}) to agent code")
        self.static_tools = {
            **exposed,
            **BASE_PYTHON_TOOLS,
            "getattr": _checked_getattr,
            _FORMAT_GUARD: _checked_format,
            _TIME_GUARD: self._interruptible_time,
        }

    def __call__(self, code_action: str) -> CodeOutput:
        try:
            out = super().__call__(guard_code(code_action))
        except Exception as exc:
            printed = self.state.get("_print_outputs")
            if printed is not None and hasattr(printed, "value"):
                printed.value = self.redactor.sub(printed.value)
            raise InterpreterError(self.redactor.sub(str(exc))) from None
        return CodeOutput(
            output=self.redactor.scrub(out.output),
            logs=self.redactor.sub(out.logs),
            is_final_answer=out.is_final_answer,
        )
