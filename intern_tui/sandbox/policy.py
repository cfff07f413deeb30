"""The first layer, inside the worker: smolagents' restricted interpreter, narrowed further.

smolagents' LocalPythonExecutor is an interpreter over the AST, not an OS sandbox. The process boundary
(worker.py, isolation.py) is what keeps agent code away from secrets, the network and the user's files;
this layer still refuses what no legitimate agent code needs, so that an attempt fails early, with a clear
error the model reads, instead of reaching the OS layer:

- a minimal import allow-list (smolagents' safe base modules plus json); no os, subprocess, socket, shutil,
  sys, pathlib, io, open, eval, exec, globals, __import__ (smolagents' own checks);
- no dunder attributes and no interpreter internals (frames, code objects, tracebacks: `gi_frame`,
  `f_back`, `co_code`, …), whether written as `x.attr`, through `getattr`/`setattr`/`hasattr` (also with a
  `str` subclass that lies about its contents), or inside a `str.format` template;
- no attribute walks inside format templates at all (`'{0.enum.sys}'.format(re)`): str.format looks
  attributes up in C, out of the interpreter's sight.
"""

from __future__ import annotations

import ast
import re
import string
from typing import Any

from smolagents.local_python_executor import BASE_PYTHON_TOOLS, InterpreterError

AUTHORIZED_IMPORTS = ["json"]  # on top of smolagents' BASE_BUILTIN_MODULES (math, re, random, datetime, …)
FORMAT_GUARD = "_checked_format"

# Attributes of generators, coroutines, frames, code objects and tracebacks: the way out of an AST
# interpreter. No legitimate agent code needs them.
_INTERNAL_ATTR = re.compile(r"^(gi|cr|ag|f|co|tb)_\w+$|^(func_\w+|im_\w+|mro)$")


def plain_name(name: Any) -> Any:
    """An exact `str` copy of a `str` subclass (whose methods may lie), anything else unchanged."""
    if isinstance(name, str) and type(name) is not str:
        return str.__str__(name)
    return name


def forbidden_attr(name: Any) -> str | None:
    """Why agent code may not touch attribute `name`, or None."""
    name = plain_name(name)
    if not isinstance(name, str):
        return None
    if str.startswith(name, "__") and str.endswith(name, "__"):
        return f"Forbidden access to dunder attribute: {name}"
    if _INTERNAL_ATTR.match(name):
        return f"Forbidden access to interpreter internals: {name}"
    return None


def _safe_template(template: Any) -> None:
    if not isinstance(template, str):
        return
    try:
        fields = list(string.Formatter().parse(plain_name(template)))
    except ValueError:
        return  # str.format will raise its own error
    for _, field_name, format_spec, _ in fields:
        for item, dotted in re.findall(r"\[([^\]]*)\]|\.([^.\[]*)", field_name or ""):
            if dotted:
                raise InterpreterError(
                    f"Attribute access inside a format string is not allowed ({{{field_name}}}): "
                    "read the attribute in code, then format the value"
                )
            if forbidden_attr(item):
                raise InterpreterError(f"{forbidden_attr(item)} (inside a format string)")
        if format_spec and "{" in format_spec:
            _safe_template(format_spec)  # nested fields: '{:{width}}'


def checked_format(obj: Any, name: str):
    """`obj.format` / `obj.format_map`, checking the template first when obj is a string (or `str`)."""
    method = getattr(obj, name)
    if not (isinstance(obj, str) or obj is str):
        return method

    def checked(*args, **kwargs):
        _safe_template(obj if isinstance(obj, str) else (args[0] if args else None))
        return method(*args, **kwargs)

    return checked


def _checked_getattr(obj: Any, name: Any, *default):
    name = plain_name(name)
    if problem := forbidden_attr(name):
        raise InterpreterError(problem)
    if name in ("format", "format_map"):
        return checked_format(obj, name)
    return getattr(obj, name, *default)


def _checked_setattr(obj: Any, name: Any, value: Any) -> None:
    name = plain_name(name)
    if problem := forbidden_attr(name):
        raise InterpreterError(problem)
    setattr(obj, name, value)


def _checked_hasattr(obj: Any, name: Any) -> bool:
    name = plain_name(name)
    if problem := forbidden_attr(name):
        raise InterpreterError(problem)
    return hasattr(obj, name)


# What agent code gets as builtins: smolagents' list with the attribute functions checked.
SAFE_BUILTINS = {
    **BASE_PYTHON_TOOLS,
    "getattr": _checked_getattr,
    "setattr": _checked_setattr,
    "hasattr": _checked_hasattr,
    FORMAT_GUARD: checked_format,
}


class _Guard(ast.NodeTransformer):
    """One pass over the agent's code before it runs: refuses interpreter-internals attributes written
    literally, and turns `x.format` into `_checked_format(x, "format")` (and format_map) wherever read."""

    def visit_Attribute(self, node: ast.Attribute):
        self.generic_visit(node)
        if _INTERNAL_ATTR.match(node.attr):
            raise InterpreterError(f"Forbidden access to interpreter internals: {node.attr}")
        if node.attr in ("format", "format_map") and isinstance(node.ctx, ast.Load):
            call = ast.Call(ast.Name(FORMAT_GUARD, ast.Load()), [node.value, ast.Constant(node.attr)], [])
            return ast.copy_location(call, node)
        return node


def guard_code(code: str) -> str:
    """Rewrite (or refuse, raising InterpreterError) the agent's code; see `_Guard`."""
    if not any(marker in code for marker in ("format", "_")):
        return code
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return code  # the executor reports the syntax error itself
    return ast.unparse(ast.fix_missing_locations(_Guard().visit(tree)))
