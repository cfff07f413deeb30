"""The session's side of the worker: a smolagents `PythonExecutor` whose code runs in another process.

`WorkerExecutor` starts the worker (isolation.py), sends it the names of the tools, then one `run` message
per code action. While the code runs, the worker may ask for tool calls; each is served here, in the
session process, through `call_tool` (the ToolGate: argument checks, approvals, budget, redaction), and the
answer goes back as JSON. The result's logs and output are scrubbed by the session's redactor before the
agent (and so the model and the store) sees them.

Limits enforced from this side, where the code can't reach them: a wall-clock deadline per step (time
spent serving tool calls doesn't count: an approval may wait for hours), and a grace period after an
interrupt, after which the worker is killed. A worker that dies (killed, out of memory, crashed) is
started again for the next step, and the step's error tells the agent its variables are gone.
"""

from __future__ import annotations

import itertools
import logging
import os
import queue
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from smolagents.local_python_executor import CodeOutput, InterpreterError, PythonExecutor

from .. import wire as protocol
from .isolation import WORKER_MODULE, Isolation, Limits, TaskLimit, command

log = logging.getLogger(__name__)

LOST_STATE = (
    "The worker process was restarted, so variables from earlier steps are gone: re-create what you need."
)
_CLOSED = {"op": "_closed"}


class WorkerDied(Exception):
    pass


# Workers are started from this one long-lived thread: bubblewrap's --die-with-parent is the kernel's
# parent-death signal, which fires when the *thread* that started the child exits, not the process.
_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="worker-spawner")
_INCARNATIONS = itertools.count(1)


class _Process:
    """One incarnation of the worker: its process, its channel and a reader thread feeding `inbox`."""

    def __init__(self, owner: WorkerExecutor):
        isolation, workspace, limits, log_path = (
            owner.isolation,
            owner.workspace,
            owner.limits,
            owner.log_path,
        )
        ours, theirs = socket.socketpair()
        argv, env = command(
            isolation, workspace, theirs.fileno(), limits, owner.worker_module, owner.extra_paths
        )
        stderr = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115 (closed below)
        # Each incarnation has its own process cap: a killed worker's processes may take a moment to die.
        self.task_limit = TaskLimit(f"{os.getpid()}-{next(_INCARNATIONS)}")
        join = self.task_limit.join_fd()
        try:
            self.popen = _SPAWNER.submit(
                subprocess.Popen,
                argv,
                env=env,
                cwd=str(workspace),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                pass_fds=[theirs.fileno()],
                start_new_session=True,
                close_fds=True,
                preexec_fn=(lambda: TaskLimit.enter(join)) if join is not None else None,
            ).result()
        finally:
            theirs.close()
            if join is not None:
                os.close(join)
            if log_path:
                stderr.close()
        self.sock = ours
        self.inbox: queue.Queue[dict[str, Any]] = queue.Queue()
        self.ready = False
        threading.Thread(target=self._read, name=f"worker-{self.popen.pid}", daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                message = protocol.recv(self.sock)
            except (protocol.ChannelClosed, ValueError, OSError):
                self.inbox.put(_CLOSED)
                return
            self.inbox.put(message)

    def send(self, message: dict[str, Any]) -> None:
        try:
            protocol.send(self.sock, message)
        except protocol.ChannelClosed as exc:
            raise WorkerDied(f"the channel to the worker closed ({exc})") from exc

    def alive(self) -> bool:
        return self.popen.poll() is None

    def exit_reason(self) -> str:
        code = self.popen.poll()
        if code is None:
            return "it stopped answering"
        if code < 0:
            name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
            return f"it was killed by {name}"
        return f"it exited with status {code}"

    def kill(self) -> None:
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            log.warning("worker %s did not die after SIGKILL", self.popen.pid)
        try:
            self.sock.close()
        except OSError:
            pass
        threading.Thread(target=self.task_limit.close, daemon=True).start()


class WorkerExecutor(PythonExecutor):
    def __init__(
        self,
        workspace: Path,
        call_tool: Callable[[str, list, dict], Any],
        *,
        isolation: Isolation,
        limits: Limits | None = None,
        redactor=None,
        interrupted: threading.Event | None = None,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        log_path: Path | None = None,
        max_print_outputs_length: int = 20_000,
    ):
        self.workspace = Path(workspace)
        self.call_tool = call_tool
        self.isolation = isolation
        self.limits = limits or Limits()
        self.redactor = redactor
        self.interrupted = interrupted or threading.Event()
        self.on_event = on_event or (lambda event: None)
        self.log_path = log_path
        self.max_print = max_print_outputs_length
        self.state: dict[str, Any] = {}  # smolagents reads state["_print_outputs"] after a failed step
        self.tool_names: list[str] = []
        self.variables: dict[str, Any] = {}
        self.restarts = 0
        self.worker_module = WORKER_MODULE
        self.extra_paths: tuple[str, ...] = ()
        self._proc: _Process | None = None
        self._send_lock = threading.Lock()
        self._ready_lock = threading.Lock()
        self._busy = threading.Event()
        self._interrupt_sent: float | None = None
        self._interrupt_reason = ""
        self._run_id = 0

    # -- PythonExecutor ----------------------------------------------------------------------------------

    def send_tools(self, tools: dict[str, Any]) -> None:
        from ..agent.tools import FunctionTool

        names = []
        for name, tool in tools.items():
            if not (isinstance(tool, FunctionTool) or name == "final_answer"):
                raise TypeError(f"refusing to expose {name!r} ({type(tool).__name__}) to agent code")
            if name != "final_answer":
                names.append(name)
        if names != self.tool_names:
            self.tool_names = names
            with self._ready_lock:
                if self._proc is not None and self._proc.ready:
                    self._send_setup()

    def prestart(self, tool_names: list[str]) -> None:
        """Start the worker now, in the background (its imports take about a second), so that it is ready
        by the time the model's first reply arrives."""
        self.tool_names = list(tool_names)

        def boot():
            try:
                self.wait_ready()
            except Exception:  # reported by the first step that needs the worker
                log.debug("worker prestart failed", exc_info=True)

        threading.Thread(target=boot, name="worker-boot", daemon=True).start()

    def wait_ready(self) -> None:
        """Block until a worker is up and set up (starting one if needed)."""
        self._ensure_ready()

    def send_variables(self, variables: dict[str, Any]) -> None:
        self.variables.update(variables)
        if self._proc is not None and self._proc.ready:
            self._send({"op": "vars", "vars": self.variables})

    def __call__(self, code_action: str) -> CodeOutput:
        self.state["_print_outputs"] = ""
        proc = self._ensure_ready()
        self._run_id += 1
        self._interrupt_sent = None
        self._busy.set()  # before the check: an interrupt() from now on is sent to this run
        if self.interrupted.is_set():
            self._busy.clear()
            raise InterpreterError("interrupted by the user: this code did not run")
        try:
            self._send({"op": "run", "id": self._run_id, "code": code_action})
            return self._await_result(proc)
        finally:
            self._busy.clear()

    def cleanup(self) -> None:
        """Stop the worker (the session is closing)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                proc.send({"op": "exit"})
            except WorkerDied:
                pass
            proc.kill()

    # -- steering (any thread) ---------------------------------------------------------------------------

    def interrupt(self, reason: str = "interrupted by the user") -> None:
        """Stop the code running now, if any: the worker raises inside it; if it hasn't stopped within
        the grace period the worker is killed."""
        if not self._busy.is_set():
            return
        self._interrupt_reason = reason
        self._interrupt_sent = time.monotonic()
        try:
            self._send({"op": "interrupt", "run": self._run_id, "reason": reason})
        except WorkerDied:
            pass

    # -- internals ---------------------------------------------------------------------------------------

    def _send(self, message: dict[str, Any]) -> None:
        proc = self._proc
        if proc is None:
            raise WorkerDied("the worker is not running")
        with self._send_lock:
            proc.send(message)

    def _ensure_started(self) -> _Process:
        if self._proc is None or not self._proc.alive():
            if self._proc is not None:
                self._proc.kill()
            self._proc = _Process(self)
        return self._proc

    def _ensure_ready(self) -> _Process:
        with self._ready_lock:
            return self._start_and_setup()

    def _start_and_setup(self) -> _Process:
        proc = self._ensure_started()
        if proc.ready:
            return proc
        deadline = time.monotonic() + 120
        while True:
            try:
                message = proc.inbox.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                message = _CLOSED
            if message["op"] == "ready":
                break
            if message is _CLOSED:
                reason = proc.exit_reason()
                proc.kill()
                self._proc = None
                hint = f" (see {self.log_path})" if self.log_path else ""
                raise InterpreterError(f"the code worker could not start: {reason}{hint}")
        proc.ready = True
        self.on_event({"phase": "started", "pid": proc.popen.pid, "isolation": self.isolation.level})
        self._send_setup()
        if self.variables:
            self._send({"op": "vars", "vars": self.variables})
        return proc

    def _send_setup(self) -> None:
        self._send(
            {
                "op": "setup",
                "tools": self.tool_names,
                "max_print": self.max_print,
                "cpu_seconds": self.limits.cpu_seconds,
            }
        )

    def _await_result(self, proc: _Process) -> CodeOutput:
        timeout = self.limits.step_timeout
        deadline = time.monotonic() + timeout if timeout else None
        while True:
            now = time.monotonic()
            if deadline is not None and now >= deadline and self._interrupt_sent is None:
                self.interrupt(f"the step ran past its {timeout:g} s wall-clock limit")
            if self._interrupt_sent is not None and now >= self._interrupt_sent + self.limits.kill_grace:
                self._restart(
                    proc, f"{self._interrupt_reason}, and did not stop within {self.limits.kill_grace:g} s"
                )
                raise InterpreterError(
                    self._scrub(
                        f"{self._interrupt_reason}; the code did not stop, so its worker was killed. "
                    )
                    + LOST_STATE
                )
            waits = [0.25]
            if deadline is not None and self._interrupt_sent is None:
                waits.append(deadline - now)
            if self._interrupt_sent is not None:
                waits.append(self._interrupt_sent + self.limits.kill_grace - now)
            try:
                message = proc.inbox.get(timeout=max(0.005, min(waits)))
            except queue.Empty:
                continue
            op = message["op"]
            if op == "call":
                started = time.monotonic()
                self._serve_call(message)
                if deadline is not None:
                    deadline += time.monotonic() - started  # waiting on a tool (an approval) is not compute
            elif op == "result":
                return CodeOutput(
                    output=self._scrub_value(message.get("output")),
                    logs=self._scrub(str(message.get("logs", ""))),
                    is_final_answer=bool(message.get("final")),
                )
            elif op == "error":
                self.state["_print_outputs"] = self._scrub(str(message.get("logs", "")))
                raise InterpreterError(self._scrub(self._error_text(message)))
            elif message is _CLOSED:
                reason = proc.exit_reason()
                self._restart(proc, reason)
                raise InterpreterError(self._died_text(reason))

    def _error_text(self, message: dict[str, Any]) -> str:
        text = str(message.get("message") or "the code failed")
        kind = message.get("kind")
        if kind == "interrupted":
            return text if text.startswith("interrupted") else f"stopped: {text}"
        if kind == "cpu_limit":
            return f"stopped: {text} (the limit is per step; split the work or launch a job)"
        return text

    def _died_text(self, reason: str) -> str:
        memory = f"{self.limits.memory_mb} MB" if self.limits.memory_mb else "no"
        return (
            f"The process running your code died ({reason}): it may have run out of memory ({memory} limit) "
            f"or crashed. {LOST_STATE}"
        )

    def _restart(self, proc: _Process, reason: str) -> None:
        proc.kill()
        if self._proc is proc:
            self._proc = None
        self.restarts += 1
        self.on_event({"phase": "restarted", "reason": reason, "restarts": self.restarts})

    def _serve_call(self, message: dict[str, Any]) -> None:
        from ..errors import ToolError

        name, args, kwargs = message.get("tool"), message.get("args"), message.get("kwargs")
        reply: dict[str, Any] = {"op": "reply", "id": message.get("id")}
        if name not in self.tool_names or not isinstance(args, list) or not isinstance(kwargs, dict):
            reply.update(ok=False, kind="ToolError", error=f"no such tool call: {str(name)[:80]!r}")
        else:
            try:
                reply.update(ok=True, value=self.call_tool(name, args, kwargs))
            except ToolError as exc:
                reply.update(ok=False, kind=type(exc).__name__, error=str(exc))
            except Exception as exc:  # the gate turns tool bugs into ToolError; this is a bug in the gate
                log.exception("tool call %s failed outside the gate", name)
                reply.update(ok=False, kind="ToolError", error=f"{name} failed: {type(exc).__name__}: {exc}")
        try:
            protocol.encode(reply)
        except ValueError:
            reply = {
                **reply,
                "ok": False,
                "kind": "ToolError",
                "error": f"{name}: result too large to return",
            }
            reply.pop("value", None)
        try:
            self._send(reply)
        except WorkerDied:
            pass  # the worker died meanwhile: its reader reports that

    def _scrub(self, text: str) -> str:
        return self.redactor.sub_deep(text) if self.redactor is not None else text

    def _scrub_value(self, value: Any) -> Any:
        return self.redactor.scrub(value, deep=True) if self.redactor is not None else value
