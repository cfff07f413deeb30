"""Per-step overhead of the supervised agent (events, store, sandboxed worker process, gate, guards) over
bare smolagents (which runs the code in-process), with the same scripted model and the same 300 steps of
code. The worker's start is timed separately: it happens once per session, while the first model call runs.

    python bench/agent_overhead.py [--steps 300]
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from pathlib import Path

from rich.console import Console
from smolagents import CodeAgent
from smolagents.monitoring import AgentLogger, LogLevel

from intern_tui.agent.scripted import ScriptedModel
from intern_tui.agent.session import Runtime, SessionOptions, start_session


def turns(n: int) -> list[dict]:
    body = [
        {"thought": f"Step {i}: compute.", "code": f"x = sum(range({i % 50}))\nprint(x)"}
        for i in range(n - 1)
    ]
    return body + [{"thought": "Done.", "code": "final_answer('ok')"}]


def bare(n: int) -> float:
    agent = CodeAgent(
        tools=[],
        model=ScriptedModel(turns(n)),
        max_steps=n + 5,
        logger=AgentLogger(level=LogLevel.OFF, console=Console(file=io.StringIO())),
    )
    t0 = time.perf_counter()
    agent.run("bench")
    return time.perf_counter() - t0


def supervised(n: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        policy = Path(tmp) / "p.jsonl"
        import json

        policy.write_text("".join(json.dumps(t) + "\n" for t in turns(n)))
        rt = Runtime.open(Path(tmp) / "home")
        # doom-loop guard on: the varied code above never trips it
        sup = start_session(
            rt, SessionOptions(task="bench", model=f"script:{policy}", max_steps=n + 5), start=False
        )
        t_boot = time.perf_counter()
        sup.agent.python_executor.wait_ready()  # the worker boots once per session, beside the first model call
        BOOT.append(time.perf_counter() - t_boot)
        t0 = time.perf_counter()
        sup.start()
        sup.wait()
        elapsed = time.perf_counter() - t0
        rt.close()
        return elapsed


BOOT: list[float] = []


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    n = ap.parse_args().steps
    bare(20), supervised(20)  # warm imports and caches
    runs = 5
    b = statistics.median(bare(n) for _ in range(runs))
    s = statistics.median(supervised(n) for _ in range(runs))
    print(f"{n} steps, scripted model, same code per step; median of {runs} runs\n")
    print(f"{'agent':<28} {'total s':>8} {'ms/step':>8}")
    print(f"{'bare smolagents CodeAgent':<28} {b:>8.2f} {b / n * 1000:>8.2f}")
    print(f"{'supervised (intern-tui)':<28} {s:>8.2f} {s / n * 1000:>8.2f}")
    print(f"\nadded per step: {(s - b) / n * 1000:.2f} ms (ratio {s / b:.2f}×)")
    print(
        f"worker process start (once per session, overlapping the first model call): "
        f"median {statistics.median(BOOT):.2f} s (isolation: {sup_isolation()})"
    )


def sup_isolation() -> str:
    from intern_tui.sandbox import probe

    return probe().level


if __name__ == "__main__":
    main()
