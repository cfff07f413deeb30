"""`lookup_api`: the signature and docstring of a class or function from the packages installed here, so
the agent writes scripts for the versions on this box (TRL's config fields move between releases).

The name is checked against an allow-list of packages and is only ever imported: a dotted path of plain
identifiers, no dunders, no calls. The import happens in a separate process (api_probe.py), so it costs
the TUI neither memory nor seconds of import lock, and runs under the interpreter the jobs use.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from .base import ToolContext, ToolError, agent_tool

ALLOWED_PACKAGES = ("trl", "transformers", "datasets", "peft", "accelerate", "huggingface_hub", "tokenizers",
                    "torch", "safetensors", "bitsandbytes", "vllm", "deepspeed", "inspect_ai", "inspect_evals",
                    "lighteval", "trackio", "evaluate", "liger_kernel")  # fmt: skip
PROBE = Path(__file__).with_name("api_probe.py")
_DOTTED = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")
TIMEOUT_S = 120


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _DOTTED.match(name.strip()):
        raise ToolError(
            f"name must be a dotted path such as 'trl.GRPOConfig' or 'transformers.AutoTokenizer.from_pretrained', "
            f"not {name!r} (plain identifiers only; no private or dunder names)"
        )
    name = name.strip()
    if name.split(".")[0] not in ALLOWED_PACKAGES:
        raise ToolError(f"lookup_api reads these packages only: {', '.join(ALLOWED_PACKAGES)}")
    return name


@agent_tool(output_type="object")
def lookup_api(ctx: ToolContext, name: str, search: str | None = None, max_chars: int = 4000) -> dict:
    """Signature, docstring, version and (for config dataclasses such as TRL's) the fields with their
    defaults and help, read from the packages installed on this machine. Use it before writing a script.

    Args:
        name: A dotted name from trl, transformers, datasets, peft, accelerate, huggingface_hub, torch…,
            e.g. 'trl.GRPOConfig', 'transformers.AutoModelForCausalLM.from_pretrained', 'peft.LoraConfig'.
        search: Only fields/members whose name or help contains this, e.g. 'beta' or 'generation'.
        max_chars: Cut the docstring at this many characters.
    """
    name = check_name(name)
    if search is not None and (not isinstance(search, str) or len(search) > 100):
        raise ToolError("search must be a short string")
    cache = ctx.settings.setdefault("api_lookups", {})
    key = (name, search or "")
    if key not in cache:
        cache[key] = _probe(name, search or "", sys.executable)  # never an interpreter the agent names
    out = dict(cache[key])
    if "error" in out:
        raise ToolError(f"lookup_api({name!r}): {out['error']}")
    doc = out.get("doc") or ""
    if len(doc) > max_chars:
        out["doc"] = doc[:max_chars] + f"… [{len(doc) - max_chars} more characters; see {out.get('file')}]"
    return out


def _probe(name: str, search: str, python: str) -> dict:
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "TRANSFORMERS_VERBOSITY": "error",
           "PYTHONWARNINGS": "ignore"}  # fmt: skip
    try:
        done = subprocess.run(
            [python, str(PROBE), name, search],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            env=env,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"importing it took over {TIMEOUT_S} s"}
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        tail = " ".join(done.stderr.strip().splitlines()[-2:])[:300]
        return {"error": f"the probe failed (exit {done.returncode}): {tail or 'no output'}"}
    try:
        return json.loads(lines[-1])
    except ValueError:
        return {"error": "the probe printed something that is not JSON"}
