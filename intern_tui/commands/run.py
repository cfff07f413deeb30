"""`intern-tui run --headless …` and `intern-tui resume ID --headless`: the agent without the TUI.

Events are printed as they happen (readable lines, or one JSON object per line with --json). Ctrl+C
interrupts the run (the session is kept and can be resumed); a second Ctrl+C exits at once.
"""

from __future__ import annotations

import argparse
import json
import select
import signal
import sys
import textwrap
import threading
import time
from typing import Any, TextIO

from ..config import load_config
from ..display import describe_retry
from ..errors import BadInput
from ..events import Event, Kind
from ..metric_values import HEADLINE_METRICS


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("task", metavar="TASK", nargs="?", help="what the agent should achieve")
    p.add_argument("--headless", action="store_true", help="no TUI: print events to stdout")
    add_agent_options(p)


def add_agent_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model", metavar="M", help="litellm model id (anthropic/…, openai/…, ollama/…) or script:PATH"
    )
    p.add_argument(
        "--api-base",
        metavar="URL",
        help="the model server (vLLM, ollama, LM Studio, a proxy); resume/fork reuse the session's own",
    )
    p.add_argument("--json", action="store_true", help="headless: one JSON event per line")
    p.add_argument(
        "--approve",
        choices=["ask", "none", "all"],
        default=None,
        help="headless approvals: none (default) denies, all approves within the budget, ask prompts",
    )
    p.add_argument("--max-steps", type=int, metavar="N", help="stop after N agent steps (default 300)")
    p.add_argument(
        "--ask-again",
        action="store_true",
        help="script: policies exported with their decisions: ask again instead of replaying them",
    )
    p.add_argument(
        "--budget-gpu-hours", type=float, metavar="H", help="cap on GPU-hours approved automatically"
    )
    p.add_argument("--budget-usd", type=float, metavar="USD", help="cap on dollars approved automatically")
    p.add_argument(
        "--context-window",
        type=int,
        metavar="TOKENS",
        help="the model's window, when it cannot be learned (compaction keeps the prompt inside it)",
    )
    p.add_argument(
        "--request-timeout",
        type=float,
        metavar="S",
        help="give up on a model call after S seconds without a byte from the server, then retry (default 120)",
    )


def session_options(args: argparse.Namespace, task: str, headless: bool):
    from ..agent.approvals import Budget
    from ..agent.models import ModelSettings, resolve_model_id
    from ..agent.session import SessionOptions

    config = load_config()
    approve = args.approve or ("none" if headless else "ask")
    if args.max_steps is not None and args.max_steps < 1:
        raise BadInput("--max-steps must be at least 1")
    settings = ModelSettings.from_config(config.llm)
    settings_overrides(args, settings)
    return SessionOptions(
        task=task,
        model=resolve_model_id(args.model, config.model),
        api_base=args.api_base or config.api_base,
        max_steps=args.max_steps or config.max_steps,
        approve=approve,
        budget=Budget(
            gpu_hours=args.budget_gpu_hours if args.budget_gpu_hours is not None else config.budget_gpu_hours,
            usd=args.budget_usd if args.budget_usd is not None else config.budget_usd,
        ),
        pause_on_alert=config.pause_on_alert,
        settings=settings,
        ask_again=bool(getattr(args, "ask_again", False)),
    )


def settings_overrides(args: argparse.Namespace, settings=None) -> dict[str, Any]:
    """Model settings given on the command line (checked); applied to `settings` when given."""
    overrides: dict[str, Any] = {}
    window = getattr(args, "context_window", None)
    if window is not None:
        if window < 1024:
            raise BadInput(f"--context-window {window} is too small", hint="the window in tokens, e.g. 32768")
        overrides["context_window"] = window
    timeout = getattr(args, "request_timeout", None)
    if timeout is not None:
        if timeout <= 0:
            raise BadInput("--request-timeout must be a positive number of seconds")
        overrides["request_timeout"] = timeout
    for name, value in overrides.items():
        if settings is not None:
            setattr(settings, name, value)
    return overrides


def run_headless(
    args: argparse.Namespace, home, resume_id: str | None = None, fork: dict | None = None, options=None
) -> int:
    """Run a new session (TASK), a resumed one (`resume_id`) or a fork (`fork`: parent_id, step,
    instruction) without the TUI, printing its events."""
    from ..agent.session import Runtime, fork_session, resume_session, start_session

    task = (getattr(args, "task", None) or "").strip()
    if resume_id is None and fork is None and options is None and not task:
        raise BadInput(
            "a TASK is required in headless mode", hint='intern-tui run --headless "SFT Qwen on …"'
        )
    runtime = Runtime.open(home, mirror=True)
    printer = Printer(sys.stdout, as_json=args.json)
    sub = runtime.bus.subscribe("headless")
    sup = None
    try:
        approve = (
            (options.approve if options is not None else None) or getattr(args, "approve", None) or "none"
        )
        asker = terminal_approver(lambda: sup) if approve == "ask" else None
        if fork is not None:
            sup = fork_session(
                runtime,
                fork["parent_id"],
                fork["step"],
                instruction=fork.get("instruction"),
                model=args.model,
                api_base=args.api_base,
                approve=approve,
                start=False,
                on_request=asker,
                settings_overrides=settings_overrides(args),
                ask_again=bool(getattr(args, "ask_again", False)),
            )
        elif resume_id is not None:
            sup = resume_session(
                runtime,
                resume_id,
                model=args.model,
                api_base=args.api_base,
                approve=approve,
                start=False,
                on_request=asker,
                max_steps=args.max_steps,
                settings_overrides=settings_overrides(args),
                ask_again=bool(getattr(args, "ask_again", False)),
            )
        else:
            options = options or session_options(args, task, headless=True)
            options.on_request = asker
            sup = start_session(runtime, options, start=False)
        session_id = sup.session_id
        printer.session_id = session_id
        interrupts = _install_sigint(sup)
        terminated = _install_sigterm(sup)
        sup.start()
        paused_hint = False
        while not sup.wait(0.1):
            printer.print_events(e for e in sub.drain() if e.session_id == session_id)
            if sup.status == "paused" and not paused_hint and not args.json:
                paused_hint = True  # nobody can press p here: say how to get out
                print(
                    f"\nsession {session_id} is paused (an alert); stop it with Ctrl+C or SIGTERM, then "
                    f"continue it with: intern-tui resume {session_id}",
                    file=sys.stderr,
                )
            elif sup.status != "paused":
                paused_hint = False
            if terminated and time.monotonic() - terminated[0] > SIGTERM_GRACE_S:
                sup.abandon("stopped by SIGTERM while a step was still running")
        runtime.writer.flush()
        printer.print_events(e for e in sub.drain() if e.session_id == session_id)
        interrupts.restore()
        if not args.json:
            print(
                f"\nsession {session_id} {sup.status}"
                + (f" — resume with: intern-tui resume {session_id}" if sup.status == "interrupted" else ""),
                file=sys.stderr,
            )
        if sup.status == "max_steps" and not args.json:
            print(
                f"the step cap was reached; continue with: intern-tui resume {session_id} "
                f"--max-steps {sup.max_steps + 100}",
                file=sys.stderr,
            )
        return {"done": 0, "interrupted": 130}.get(sup.status, 1)
    finally:
        sub.close()
        runtime.close()


class _SigintHandler:
    def __init__(self, sup):
        self.sup = sup
        self.count = 0
        self.previous = signal.getsignal(signal.SIGINT)

    def __call__(self, signum, frame):
        self.count += 1
        if self.count > 1:
            raise KeyboardInterrupt
        print(
            "\ninterrupting: the model call or step in flight is abandoned (Ctrl+C again to quit now)…",
            file=sys.stderr,
        )
        self.sup.interrupt()

    def restore(self) -> None:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, self.previous)


SIGTERM_GRACE_S = 3.0  # a SIGTERM'd headless run ends within this (plus the final flush), step or not


def _install_sigterm(sup) -> list[float]:
    """SIGTERM (systemd, Slurm, `kill`): interrupt now, abandon the step in flight after a grace period.
    The session ends interrupted and resumable. Returns a list that holds the signal's time once sent."""
    when: list[float] = []

    def handler(signum, frame):
        if not when:
            when.append(time.monotonic())
            print("\nSIGTERM: stopping the session (it stays resumable)…", file=sys.stderr)
            sup.interrupt("stopped by SIGTERM")

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)
    return when


def _install_sigint(sup) -> _SigintHandler:
    handler = _SigintHandler(sup)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, handler)
    return handler


def _read_line(prompt: str, request) -> str | None:
    """input() that gives up (None) when the request is decided elsewhere (e.g. Ctrl+C interrupts the run):
    the agent thread is never left blocked on the terminal."""
    print(prompt, end="", file=sys.stderr, flush=True)
    while not request.done.is_set():
        ready, _, _ = select.select([sys.stdin], [], [], 0.2)
        if ready:
            line = sys.stdin.readline()
            return line.strip() if line else None
    print("\n  (no longer pending)", file=sys.stderr)
    return None


def terminal_approver(get_supervisor):
    """For `--approve ask` without a TUI: ask on the terminal, in the agent's thread."""
    lock = threading.Lock()

    def ask(request) -> None:
        sup = get_supervisor()
        if not sys.stdin or not sys.stdin.isatty():
            sup.decide(request.id, "deny", "no terminal to ask for approval (use --approve all or the TUI)")
            return
        with lock:
            from ..display import describe

            lines = describe(request.view)  # every argument, in full, from the recorded request
            print("\n⚠ approval needed: " + "\n".join(lines), file=sys.stderr)
            while True:
                answer = _read_line("  [y]es / [a]lways / [n]o / [e]dit arguments: ", request)
                if answer is None:
                    return
                answer = answer.lower()
                if answer in ("y", "yes"):
                    sup.decide(request.id, "approve")
                elif answer in ("a", "always"):
                    sup.decide(request.id, "always")
                elif answer in ("n", "no"):
                    reason = _read_line("  reason (optional): ", request)
                    sup.decide(request.id, "deny", reason or None)
                elif answer in ("e", "edit"):
                    raw = _read_line("  new arguments as JSON: ", request)
                    if raw is None:
                        return
                    try:
                        edited = json.loads(raw)
                        if not isinstance(edited, dict):
                            raise ValueError("not an object")
                    except ValueError as exc:
                        print(f"  not a JSON object ({exc}); try again", file=sys.stderr)
                        continue
                    sup.decide(request.id, "edit", None, edited)
                else:
                    continue
                return

    return ask


class Printer:
    """Readable one-event-per-block output for terminals and logs."""

    def __init__(self, out: TextIO, as_json: bool = False):
        self.out = out
        self.as_json = as_json
        self.session_id: str | None = None

    def print_events(self, events) -> None:
        for event in events:
            if self.as_json:
                self.out.write(event.to_json() + "\n")
            else:
                text = format_event(event)
                if text:
                    self.out.write(text + "\n")
        self.out.flush()


def format_event(e: Event) -> str | None:
    p: dict[str, Any] = e.payload
    tag = f"[{e.step}]" if e.step else "[-]"
    k = e.kind
    if k == Kind.SESSION_STARTED:
        where = f" @ {p['api_base']}" if p.get("api_base") else ""
        window = ""
        if p.get("context_window"):
            source = p.get("context_window_source")
            window = f" · context {p['context_window']:,} tokens ({WINDOW_SOURCES.get(source, source)})"
        what = "resumed" if p.get("resumed") else "new"
        return f"session {e.session_id} · {p.get('model')}{where} · {what}{window}"
    if k == Kind.TASK:
        return f"{tag} task: {p.get('task')}"
    if k == Kind.MODEL_OUTPUT:
        lines = []
        if p.get("reasoning"):
            lines.append(f"{tag} reasoning: {len(p['reasoning']):,} characters (kept in the session log)")
        lines.append(f"{tag} thought: {p.get('thought')}")
        if p.get("finish_reason") == "length":
            lines.append(f"{tag} ⚠ the reply was cut off at the output token limit (finish_reason=length)")
        return "\n".join(lines)
    if k == Kind.MODEL_RETRY:
        return f"{tag} ⚠ {describe_retry(p)}"
    if k == Kind.CODE_ACTION:
        return f"{tag} code:\n" + textwrap.indent(p.get("code", ""), "    ")
    if k == Kind.TOOL_RESULT and p.get("error"):
        return f"{tag} ✗ {p.get('tool')}: {p.get('error')}"
    if k == Kind.OBSERVATION:
        text = (p.get("error") or p.get("text") or "").strip()
        return f"{tag} {'error' if p.get('error') else 'observation'}: " + _clip(text, 1500)
    if k == Kind.APPROVAL_REQUESTED:
        from ..display import describe

        return f"{tag} ⚠ approval requested: " + "\n".join(describe(p))  # every argument, in full
    if k == Kind.APPROVAL_DECIDED:
        how = f"{p.get('decided_by')}" + (f", as {p.get('recorded_by')} decided" if p.get("replayed") else "")
        line = f"{tag} approval {p.get('status')}: {p.get('tool')} ({how}) {p.get('reason') or ''}".rstrip()
        if p.get("edited") is not None:
            line += (
                f"\n{tag}   edited arguments: {json.dumps(p['edited'], ensure_ascii=False, sort_keys=True)}"
            )
        return line
    if k in (Kind.PAUSED, Kind.RESUMED, Kind.REDIRECTED, Kind.INTERRUPTED):
        return f"{tag} {k} {p.get('phase', '')} {p.get('text', '') or p.get('reason', '')}".rstrip()
    if k == Kind.JOB_STARTED:
        return f"{tag} job {p.get('job_id')} started ({p.get('backend')}): {p.get('script')}"
    if k == Kind.JOB_METRIC:
        values = p.get("values") or {}
        shown = [n for n in HEADLINE_METRICS if isinstance(values.get(n), int | float)] or list(values)[:4]
        return f"    {p.get('job_id')} step {p.get('step')}: " + " ".join(
            f"{n}={values[n]:.4g}" for n in shown
        )
    if k == Kind.JOB_FINISHED:
        return f"{tag} job {p.get('job_id')} {p.get('status')} (exit {p.get('exit_code')})"
    if k == Kind.EVAL_RESULT:
        base = " (base)" if p.get("base") else ""
        return f"{tag} eval {p.get('benchmark')}: {p.get('label')}{base} {p.get('metric')} {p.get('score')} (n={p.get('n')})"
    if k == Kind.COMPACTED:
        return (
            f"{tag} context compacted ({p.get('reason', 'threshold')}): {p.get('folded_steps')} steps folded, "
            f"~{p.get('tokens_before'):,} → ~{p.get('tokens_after'):,} tokens of a {p.get('window'):,}-token window"
        )
    if k in (Kind.ALERT, Kind.DOOM_LOOP, Kind.NUDGED):
        if p.get("delivered"):
            return None
        return f"{tag} ⚠ {k}: {p.get('message') or p.get('reason') or p.get('folded_steps')}"
    if k == Kind.FILE_WRITTEN:
        return f"{tag} wrote {p.get('path')} v{p.get('version')} (+{p.get('added')} -{p.get('removed')})"
    if k == Kind.FINAL_ANSWER:
        return f"{tag} final answer: {p.get('answer')}"
    if k == Kind.SESSION_ENDED:
        detail = p.get("error") or (p.get("reason") if p.get("status") == "max_steps" else None)
        return f"session ended: {p.get('status')}" + (f" — {detail}" if detail else "")
    return None


WINDOW_SOURCES = {
    "setting": "as configured",
    "server": "from the server",
    "server error": "from the server's error",
    "litellm": "from litellm's model info",
    "default": "assumed: set --context-window",
    "script": "scripted policy",
}


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"… [{len(text) - limit} more characters]"
