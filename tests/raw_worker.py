"""A worker with the first layer removed: agent code runs as plain Python (`exec`), as if it had escaped
smolagents' interpreter. Tests run it under the real isolation, through the real loop, to check that the
process boundary alone holds (no secrets, no network, no files outside the workspace, limits, gate).

Started by a WorkerExecutor whose `worker_module` is "raw_worker" (the tests copy this file where the
sandbox can read it).
"""

from __future__ import annotations

import contextlib
import io
import json
import socket
import sys

from intern_tui.sandbox import worker as real


class _Final(Exception):
    pass


def _final_answer(answer):
    raise _Final(answer)


class RawExecutor:
    def __init__(self, worker: real.Worker, tools: list[str]):
        self.state = {"__name__": "__main__", "worker": worker, "final_answer": _final_answer}
        for name in tools:
            self.state[name] = worker._stub(name)

    def __call__(self, code: str):
        out = io.StringIO()
        self.state["_print_outputs"] = ""
        output, final = None, False
        with contextlib.redirect_stdout(out):
            try:
                exec(compile(code, "<agent>", "exec"), self.state)
            except _Final as answer:
                output, final = answer.args[0], True
            finally:
                self.state["_print_outputs"] = out.getvalue()
        return type("Out", (), {"output": output, "logs": out.getvalue(), "is_final_answer": final})()


class RawWorker(real.Worker):
    def _setup(self, message):
        self.cpu_seconds = message.get("cpu_seconds")
        self.executor = RawExecutor(self, list(message.get("tools", [])))


def main() -> None:
    from intern_tui.sandbox.isolation import apply_rlimits

    sock = socket.socket(fileno=int(sys.argv[1]))
    apply_rlimits(json.loads(sys.argv[2]))
    RawWorker(sock).serve()
