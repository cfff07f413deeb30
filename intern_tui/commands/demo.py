"""`intern-tui demo`: the whole loop, offline, with no API key and no GPU.

A scripted policy (`intern_tui/demo/demo.jsonl`, package data; clearly labelled as such) drives the real
agent loop and the real tools: it inspects a bundled dataset, builds a training mix that (on purpose) contains benchmark items, so
the launch approval is flagged by the contamination guard, cleans it and launches again (you approve with
`a`, or `--yes`), trains a tiny model on CPU for real, evaluates it and the untrained base on the bundled
tiny-arith benchmark (the Evals pane, `v`), edits a script (the diff shows), runs a short GRPO stage, asks
to push (denied by default in the demo) and summarizes.
"""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path

from ..errors import InternError

# Package data (its source: intern_tui/demo/policy.py), found wherever intern-tui is installed.
POLICY = resources.files("intern_tui") / "demo" / "demo.jsonl"
TASK = (
    "[DEMO — scripted policy, no LLM] Post-train the base model `tiny` (a tiny chat model built on CPU) to "
    "answer arithmetic better, measured on the bundled tiny-arith benchmark: inspect the data, SFT smoke run "
    "(the contamination guard catches benchmark items in the first training mix), evaluation against the "
    "base model, a short GRPO stage, then request a push."
)
DENY_PUSH = "the scripted demo never uploads: push_to_hub is denied by default"


def run(args: argparse.Namespace, home: Path) -> int:
    if not POLICY.is_file():
        raise InternError(
            f"the demo policy is missing from this installation ({POLICY})",
            hint="reinstall intern-tui (pip install --force-reinstall intern-tui)",
        )
    with resources.as_file(POLICY) as policy:  # a real file already, unless installed as a zip
        return _run(args, home, policy)


def _run(args: argparse.Namespace, home: Path, policy: Path) -> int:
    from ..agent.session import SessionOptions

    if args.yes:
        approve = "all"
    elif args.headless:
        approve = "ask" if sys.stdin.isatty() else "none"
        if approve == "none":
            print(
                "intern-tui demo: no terminal to ask for approvals; the training jobs will be denied "
                "(add --yes to approve them)",
                file=sys.stderr,
            )
    else:
        approve = "ask"
    options = SessionOptions(
        task=TASK,
        model=f"script:{policy}",
        max_steps=40,
        approve=approve,
        deny_tools={"push_to_hub": DENY_PUSH},
        title="intern-tui demo",
    )
    if args.headless:
        from .run import run_headless

        ns = argparse.Namespace(json=args.json, approve=approve, model=None, api_base=None, task=TASK)
        return run_headless(ns, home, options=options)
    from ..cli import _require_terminal
    from .tui import run_tui

    _require_terminal()
    return run_tui(args, home, options=options)
