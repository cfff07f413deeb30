"""The agent's code runs here: smolagents' restricted local executor, narrowed further.

- Only a minimal import allow-list (smolagents' safe base modules plus json); no os, subprocess, socket,
  shutil, sys, pathlib, io, open, eval, exec, globals, __import__.
- Tools reach agent code as bare closures over the ToolGate with an empty `__globals__`: there is no tool
  object whose attributes lead to a runner, a file handle or the environment, so "call the underlying
  function directly" has nothing to call.
- Dunder attributes are refused by smolagents in code; `str.format`/`format_map` templates, which could
  walk attributes inside the string ("{0.__globals__}"), are checked at run time for the same thing.
- Observations, return values and error messages are scrubbed of known secret values before they reach
  the model (the second layer behind the tools never returning secrets in the first place).
"""

from __future__ import annotations

import ast
import string
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
        if (field_name and "__" in field_name) or (format_spec and "__" in format_spec):
            raise InterpreterError("Forbidden access to dunder attribute inside a format string")


def _checked_format(obj: Any, name: str):
    method = getattr(obj, name)
    if not (isinstance(obj, str) or obj is str):
        return method

    def checked(*args, **kwargs):
        _safe_template(obj if isinstance(obj, str) else (args[0] if args else None))
        return method(*args, **kwargs)

    return checked


def _checked_getattr(obj: Any, name: str, *default):
    if isinstance(name, str) and name.startswith("__") and name.endswith("__"):
        raise InterpreterError(f"Forbidden access to dunder attribute: {name}")
    if name in ("format", "format_map"):
        return _checked_format(obj, name)
    return getattr(obj, name, *default)


class _FormatRewriter(ast.NodeTransformer):
    """`x.format` → `_checked_format(x, "format")` (and format_map), wherever it is read."""

    def visit_Attribute(self, node: ast.Attribute):
        self.generic_visit(node)
        if node.attr in ("format", "format_map") and isinstance(node.ctx, ast.Load):
            return ast.copy_location(
                ast.Call(
                    func=ast.Name(id=_FORMAT_GUARD, ctx=ast.Load()),
                    args=[node.value, ast.Constant(node.attr)],
                    keywords=[],
                ),
                node,
            )
        return node


def guard_format_calls(code: str) -> str:
    if "format" not in code:
        return code
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return code  # the executor reports the syntax error itself
    return ast.unparse(ast.fix_missing_locations(_FormatRewriter().visit(tree)))


class SandboxedExecutor(LocalPythonExecutor):
    def __init__(self, redactor: Redactor, max_print_outputs_length: int = 20_000):
        # No wall-clock timeout: a sensitive tool call legitimately blocks until a human decides.
        # Runaway loops are still bounded by smolagents' operation and iteration limits.
        super().__init__(
            AUTHORIZED_IMPORTS, max_print_outputs_length=max_print_outputs_length, timeout_seconds=None
        )
        self.redactor = redactor

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
        }

    def __call__(self, code_action: str) -> CodeOutput:
        try:
            out = super().__call__(guard_format_calls(code_action))
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
