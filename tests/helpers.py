"""Small helpers shared by tests."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from intern_tui.bus import EventBus
from intern_tui.store import StoreWriter, open_store


@contextmanager
def running_store(home: Path):
    """An opened store with a started writer on a fresh bus: yields (store, bus, writer)."""
    store = open_store(home)
    bus = EventBus()
    writer = StoreWriter(store.connect, bus)
    writer.start()
    try:
        yield store, bus, writer
    finally:
        writer.stop()


import json  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

from intern_tui.tools.base import REGISTRY, ToolContext, agent_tool  # noqa: E402


def write_policy(path: Path, turns: list[tuple[str, str]]) -> str:
    """Write a script: policy file from (thought, code) pairs; returns the --model value."""
    path.write_text("".join(json.dumps({"thought": t, "code": c}) + "\n" for t, c in turns))
    return f"script:{path}"


class Checkpoints:
    """Test-only tools that let a test hold the agent at a precise point inside a step.

    `checkpoint(name)` blocks until the test calls `release(name)`; `spend(amount)` is a sensitive tool
    (needs approval) whose estimate is `amount` dollars.
    """

    def __init__(self):
        self.reached: dict[str, threading.Event] = {}
        self.released: dict[str, threading.Event] = {}
        self.calls: list[tuple[str, object]] = []

    def _pair(self, name: str):
        return (
            self.reached.setdefault(name, threading.Event()),
            self.released.setdefault(name, threading.Event()),
        )

    def wait_reached(self, name: str, timeout: float = 30) -> None:
        assert self._pair(name)[0].wait(timeout), f"agent never reached checkpoint {name!r}"

    def reached_now(self, name: str) -> bool:
        return self._pair(name)[0].is_set()

    def release(self, name: str) -> None:
        self._pair(name)[1].set()

    def install(self):
        cp = self

        def checkpoint(ctx: ToolContext, name: str) -> str:
            """Block until the test releases this checkpoint.

            Args:
                name: The checkpoint name.
            """
            reached, released = cp._pair(name)
            reached.set()
            released.wait(60)
            cp.calls.append(("checkpoint", name))
            return f"passed {name}"

        def spend(ctx: ToolContext, amount: int) -> int:
            """Spend money (sensitive).

            Args:
                amount: Dollars to spend.
            """
            cp.calls.append(("spend", amount))
            return amount

        agent_tool(checkpoint, output_type="string")
        agent_tool(
            spend,
            sensitive=True,
            output_type="integer",
            estimate=lambda ctx, a: {"usd": float(a["amount"]), "summary": f"${a['amount']}"},
        )
        return self

    def uninstall(self) -> None:
        REGISTRY.pop("checkpoint", None)
        REGISTRY.pop("spend", None)


def wait_for(predicate, timeout: float = 30, interval: float = 0.02):
    """Poll until predicate() is truthy (a synchronisation helper, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not reached within the timeout")


async def until(pilot, predicate, frames: int = 1500):
    """Let a Pilot-driven app run until predicate() holds (frames bound the wait; no timing assertion)."""
    for _ in range(frames):
        await pilot.pause(0.02)
        if predicate():
            return
    raise AssertionError("condition not reached")


def stream_text(screen) -> str:
    """The agent stream of a dashboard screen, as plain text."""
    from intern_tui.tui.widgets.stream import AgentStream

    return "\n".join(strip.text for strip in screen.query_one(AgentStream).lines)


# One model reply is one step in the tests: the persistence guard (which sends an early final answer back
# once in LLM sessions) is off unless a test turns it on; tests/test_persistence.py covers it.
TEST_CONFIG = "[research]\npersistence_nudges = 0\n"


def write_config(home: Path, text: str) -> None:
    """Write the test's config.toml (`text` first, then the test defaults)."""
    path = home.parent / "config" / "intern-tui" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{text}\n{TEST_CONFIG}" if "[research]" not in text else text)


def toast_texts(app) -> list[str]:
    """The notifications on screen now, as the user reads them."""
    from textual.widgets._toast import Toast

    return [str(toast.render()) for toast in app.screen.query(Toast)]


def load_trainer_state(book, job_id: str, path: Path) -> int:
    """Feed a trainer_state.json into a MetricsBook through the reader the job watcher uses; returns the
    entries used."""
    from intern_tui.jobs.metrics import parse_trainer_state

    entries = parse_trainer_state(path)
    for step, values in entries:
        book.add(job_id, step, values)
    return len(entries)
