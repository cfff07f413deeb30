"""The worker process: it runs the agent's code and nothing else.

It is started by `WorkerExecutor` (executor.py), under bubblewrap when the machine allows it
(isolation.py), with an environment that holds no secrets. It has no tools of its own: every tool is a stub
that sends the call to the session process over the channel and waits for the answer, so the ToolGate,
approvals, budget, redactor and jobs live only on the other side, out of reach of the code running here.

Two threads: the main thread executes code; a reader thread receives messages, so that an `interrupt` is
seen while code runs. An interrupt raises `StepInterrupted` in the main thread (a BaseException: the
interpreter's `try/except` only catches `Exception`, so agent code cannot swallow it). The per-step CPU
limit works the same way through SIGXCPU. Whatever the code does, the session process also keeps a
wall-clock deadline and kills the worker when it stops answering.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import resource
import signal
import socket
import sys
import threading
from typing import Any

from .. import wire as protocol


class StepInterrupted(BaseException):
    """Raised inside the running code when the session interrupts it (user, or the wall-clock limit)."""


class CpuLimitExceeded(BaseException):
    """Raised inside the running code when the step has used up its CPU-time allowance."""


class ToolError(Exception):
    """A tool call failed on the session's side; the message says why."""


class ApprovalDenied(ToolError):
    pass


class Interrupted(ToolError):
    pass


_ERRORS = {"ApprovalDenied": ApprovalDenied, "Interrupted": Interrupted}


def _json_safe(value: Any, depth: int = 0) -> Any:
    """Values leave the worker as JSON: containers are walked (to a depth), anything else is its repr."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if depth > 32:
        return "[nested too deep]"
    if isinstance(value, list | tuple):
        return [_json_safe(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {
            str.__str__(k) if isinstance(k, str) else repr(k): _json_safe(v, depth + 1)
            for k, v in value.items()
        }
    try:
        return repr(value)
    except Exception as exc:
        return f"[unprintable {type(value).__name__}: {exc}]"


class Worker:
    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.inbox: queue.Queue[dict[str, Any]] = queue.Queue()
        self.main = threading.get_ident()
        self.running = False
        self.run_id = None  # the run executing now
        self.interrupted_run = None  # the run the session asked to stop (may arrive before it starts)
        self.interrupt_reason = ""
        self.cpu_seconds: float | None = None
        self.executor = None
        self._ids = itertools.count(1)
        signal.signal(signal.SIGUSR1, self._on_interrupt)
        signal.signal(signal.SIGXCPU, self._on_cpu_limit)
        threading.Thread(target=self._read, name="worker-reader", daemon=True).start()

    # -- signals (run in the main thread, between two bytecodes of whatever is running) -----------------

    def _on_interrupt(self, signum, frame):
        if self.running:
            raise StepInterrupted(self.interrupt_reason or "interrupted")

    def _on_cpu_limit(self, signum, frame):
        if self.running:
            raise CpuLimitExceeded(f"the step used more than its {self.cpu_seconds:g} s of CPU time")

    # -- the reader thread ------------------------------------------------------------------------------

    def _read(self) -> None:
        while True:
            try:
                message = protocol.recv(self.sock)
            except (protocol.ChannelClosed, ValueError):
                os._exit(0)  # the session is gone: nothing left to do for it
            if message["op"] == "interrupt":
                self.interrupt_reason = str(message.get("reason") or "interrupted")
                self.interrupted_run = message.get("run")
                if self.running and self.run_id == self.interrupted_run:
                    signal.pthread_kill(self.main, signal.SIGUSR1)
            else:
                self.inbox.put(message)

    # -- the main thread --------------------------------------------------------------------------------

    def serve(self) -> None:
        protocol.send(self.sock, {"op": "ready", "pid": os.getpid(), "uid": os.getuid()})
        while True:
            message = self.inbox.get()
            op = message["op"]
            if op == "setup":
                self._setup(message)
            elif op == "vars":
                self._state().update(message.get("vars") or {})
            elif op == "run":
                try:
                    result = self._run(message.get("id"), str(message.get("code", "")))
                except (StepInterrupted, CpuLimitExceeded) as exc:  # landed between two statements of _run
                    result = {"op": "error", "kind": "interrupted", "message": str(exc), "logs": ""}
                protocol.send(self.sock, result)
            elif op == "exit":
                return
            # stale tool replies (from a call that was interrupted) are dropped here

    def _state(self) -> dict[str, Any]:
        return self.executor.state if self.executor is not None else {}

    def _setup(self, message: dict[str, Any]) -> None:
        from smolagents.local_python_executor import LocalPythonExecutor

        from .policy import AUTHORIZED_IMPORTS, SAFE_BUILTINS, guard_code

        class Executor(LocalPythonExecutor):
            def __call__(self, code_action: str):
                return super().__call__(guard_code(code_action))

        self.cpu_seconds = message.get("cpu_seconds")
        executor = Executor(
            AUTHORIZED_IMPORTS,
            max_print_outputs_length=int(message.get("max_print", 20_000)),
            timeout_seconds=None,  # the session keeps the wall-clock limit: a worker can't be trusted with it
        )
        stubs = {name: self._stub(str(name)) for name in message.get("tools", [])}
        stubs["final_answer"] = lambda answer=None, *args, **kwargs: answer
        executor.static_tools = {**stubs, **SAFE_BUILTINS}
        self.executor = executor

    def _stub(self, name: str):
        def tool(*args, **kwargs):
            return self._call_tool(name, args, kwargs)

        tool.__name__ = tool.__qualname__ = name
        return tool

    def _call_tool(self, name: str, args: tuple, kwargs: dict[str, Any]) -> Any:
        call_id = next(self._ids)
        protocol.send(
            self.sock,
            {
                "op": "call",
                "id": call_id,
                "tool": name,
                "args": _json_safe(args),
                "kwargs": _json_safe(kwargs),
            },
        )
        while True:
            reply = self.inbox.get()  # interruptible: a signal handler's exception ends the wait
            if reply["op"] == "reply" and reply.get("id") == call_id:
                break
        if reply.get("ok"):
            return reply.get("value")
        raise _ERRORS.get(reply.get("kind", ""), ToolError)(reply.get("error") or f"{name} failed")

    def _run(self, run_id: Any, code: str) -> dict[str, Any]:
        if self.executor is None:
            return {"op": "error", "message": "the worker was not set up", "logs": ""}
        self._arm_cpu_limit()
        self.run_id = run_id
        self.running = True
        try:
            if self.interrupted_run == run_id:  # the interrupt overtook the code
                raise StepInterrupted(self.interrupt_reason)
            out = self.executor(code)
            result = {
                "op": "result",
                "output": _json_safe(out.output),
                "logs": str(out.logs),
                "final": bool(out.is_final_answer),
            }
        except StepInterrupted as exc:
            result = {"op": "error", "kind": "interrupted", "message": str(exc), "logs": self._logs()}
        except CpuLimitExceeded as exc:
            result = {"op": "error", "kind": "cpu_limit", "message": str(exc), "logs": self._logs()}
        except Exception as exc:
            text = str(exc) if type(exc).__name__ == "InterpreterError" else f"{type(exc).__name__}: {exc}"
            result = {"op": "error", "kind": "code", "message": text, "logs": self._logs()}
        finally:
            self.running = False
            self._disarm_cpu_limit()
        try:
            protocol.encode(result)
        except ValueError:
            result = {**result, "output": "[output too large to return]", "logs": result["logs"][-20_000:]}
        return result

    def _logs(self) -> str:
        return str(self._state().get("_print_outputs", ""))

    def _arm_cpu_limit(self) -> None:
        if not self.cpu_seconds:
            return
        usage = resource.getrusage(resource.RUSAGE_SELF)
        used = usage.ru_utime + usage.ru_stime
        _, hard = resource.getrlimit(resource.RLIMIT_CPU)
        soft = int(used + self.cpu_seconds) + 1
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))

    def _disarm_cpu_limit(self) -> None:
        if self.cpu_seconds:
            _, hard = resource.getrlimit(resource.RLIMIT_CPU)
            resource.setrlimit(resource.RLIMIT_CPU, (hard, hard))


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    sock = socket.socket(fileno=int(argv[0]))
    import smolagents.local_python_executor  # noqa: F401  (the slow import, before saying ready)

    from .isolation import apply_rlimits

    apply_rlimits(json.loads(argv[1]) if len(argv) > 1 else {})  # before any agent code runs

    Worker(sock).serve()


if __name__ == "__main__":
    main()
