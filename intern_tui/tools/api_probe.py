"""Run as a script by `lookup_api` (never imported by intern-tui): imports one dotted name from an
installed package and prints what it is as JSON. Standard library only, so it runs under the same
interpreter the jobs use and reports the versions installed there.

    python api_probe.py trl.GRPOConfig [search]
"""

import os
import sys

# This file's folder (intern_tui/tools, which has an http.py) must not shadow the standard library.
sys.path[:] = [p for p in sys.path if p and os.path.abspath(p) != os.path.dirname(os.path.abspath(__file__))]

import dataclasses  # noqa: E402
import difflib  # noqa: E402
import importlib  # noqa: E402
import importlib.metadata  # noqa: E402
import inspect  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402

MAX_FIELDS = 60
MAX_MEMBERS = 80


def fail(message: str) -> None:
    print(json.dumps({"error": message}))
    sys.exit(0)


def resolve(name: str):
    parts = name.split(".")
    module, depth = None, 0
    for depth in range(len(parts), 0, -1):
        try:
            module = importlib.import_module(".".join(parts[:depth]))
            break
        except ModuleNotFoundError as exc:
            if exc.name and not ".".join(parts[:depth]).startswith(exc.name):
                fail(f"importing {'.'.join(parts[:depth])} needs {exc.name}, which is not installed")
        except Exception as exc:  # the package itself failed to import: say how
            fail(f"importing {'.'.join(parts[:depth])} failed: {type(exc).__name__}: {exc}")
    if module is None:
        fail(f"{parts[0]} is not installed in {sys.executable}")
    obj = module
    for i, attr in enumerate(parts[depth:], start=depth):
        try:
            obj = getattr(obj, attr)
        except AttributeError:
            names = [n for n in dir(obj) if not n.startswith("_")]
            close = difflib.get_close_matches(attr, names, n=5, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            fail(f"{'.'.join(parts[:i])} has no attribute {attr!r}{hint}")
        except Exception as exc:
            fail(f"getting {'.'.join(parts[: i + 1])} failed: {type(exc).__name__}: {exc}")
    return obj


def kind_of(obj) -> str:
    if inspect.ismodule(obj):
        return "module"
    if inspect.isclass(obj):
        return "dataclass" if dataclasses.is_dataclass(obj) else "class"
    if inspect.isfunction(obj) or inspect.ismethod(obj) or inspect.isbuiltin(obj):
        return "function"
    return type(obj).__name__


def default_of(field) -> str | None:
    if field.default is not dataclasses.MISSING:
        return repr(field.default)
    if field.default_factory is not dataclasses.MISSING:
        try:
            return repr(field.default_factory())
        except Exception:
            return "<factory>"
    return None


def main() -> None:
    name = sys.argv[1]
    search = (sys.argv[2] if len(sys.argv) > 2 else "").lower()
    obj = resolve(name)
    top = name.split(".")[0]
    try:
        version = importlib.metadata.version(top.replace("_", "-"))
    except importlib.metadata.PackageNotFoundError:
        version = getattr(sys.modules.get(top), "__version__", None)
    out = {"name": name, "kind": kind_of(obj), "package": top, "version": version}
    try:
        out["file"] = inspect.getsourcefile(obj)
    except TypeError:
        pass
    if dataclasses.is_dataclass(obj) and inspect.isclass(obj):
        fields = []
        for f in dataclasses.fields(obj):
            help_text = (f.metadata or {}).get("help", "")
            if search and search not in f.name.lower() and search not in str(help_text).lower():
                continue
            fields.append({"name": f.name, "type": str(f.type), "default": default_of(f),
                           "help": re.sub(r"\s+", " ", str(help_text))[:300]})  # fmt: skip
        out["fields_total"] = len(dataclasses.fields(obj))
        out["fields"] = fields[:MAX_FIELDS]
        if len(fields) > MAX_FIELDS:
            out["fields_note"] = f"{len(fields) - MAX_FIELDS} more; pass search= to narrow"
    elif callable(obj):
        try:
            out["signature"] = f"{name.split('.')[-1]}{inspect.signature(obj)}"
        except (TypeError, ValueError):
            pass
    if inspect.ismodule(obj) or (inspect.isclass(obj) and not dataclasses.is_dataclass(obj)):
        members = [n for n in dir(obj) if not n.startswith("_") and (not search or search in n.lower())]
        out["members"] = members[:MAX_MEMBERS]
    out["doc"] = inspect.getdoc(obj) or ""
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
