"""The in-process event bus and the per-session emitter.

Producers (agent, jobs, GPU sampler) call `Emitter.emit` from any thread. The emitter redacts the payload,
assigns the next gap-free `seq` of the session and hands the event to every subscriber's queue. Queues are
unbounded deques, so publishing never waits for a slow consumer (the store writer, the TUI, the mirror).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from .events import Event, dumps
from .redact import Redactor, default_redactor
from .sanitize import clean_value, json_needs_cleaning


class Subscription:
    """A consumer's queue of events. `drain()` takes everything queued so far without blocking."""

    def __init__(self, bus: EventBus, name: str, accept: Callable[[Event], bool] | None = None):
        self.bus = bus
        self.name = name
        self.accept = accept
        self._items: deque[Event] = deque()
        self._ready = threading.Event()

    def put(self, event: Event) -> None:
        if self.accept is None or self.accept(event):
            self._items.append(event)
            if not self._ready.is_set():  # set() takes a lock; skip it while the consumer is already due
                self._ready.set()

    def put_marker(self, marker: object) -> None:
        """Queue a non-event item behind everything queued so far (FIFO), bypassing `accept`: the store
        writer's flush markers ride the same queue, so reaching one means all before it was drained."""
        self._items.append(marker)
        self._ready.set()

    def wake(self) -> None:
        """Wake a consumer blocked in `wait()` without queueing anything (e.g. to let it stop)."""
        self._ready.set()

    def drain(self, limit: int | None = None) -> list[Event]:
        items = self._items
        out: list[Event] = []
        pop = items.popleft
        try:
            while limit is None or len(out) < limit:
                out.append(pop())
        except IndexError:
            self._ready.clear()
            # An event may have landed between the last pop and clear(): keep the flag honest.
            if items:
                self._ready.set()
        return out

    def wait(self, timeout: float | None = None) -> bool:
        """Block until at least one event is queued (or the timeout passes)."""
        return self._ready.wait(timeout)

    def __len__(self) -> int:
        return len(self._items)

    def close(self) -> None:
        self.bus.unsubscribe(self)


class EventBus:
    """Fan-out of events to subscribers. Thread-safe; publishing is a few deque appends."""

    def __init__(self) -> None:
        self._subs: tuple[Subscription, ...] = ()
        self._lock = threading.Lock()

    def subscribe(self, name: str, accept: Callable[[Event], bool] | None = None) -> Subscription:
        sub = Subscription(self, name, accept)
        with self._lock:
            self._subs = self._subs + (sub,)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subs = tuple(s for s in self._subs if s is not sub)

    def publish(self, event: Event) -> None:
        for sub in self._subs:
            sub.put(event)


class Emitter:
    """Stamps, redacts and publishes the events of one session.

    `seq` is assigned under a lock together with the publish, so every subscriber sees a session's events
    in seq order with no gaps, whichever threads they came from.
    """

    def __init__(
        self,
        bus: EventBus,
        session_id: str,
        next_seq: int = 1,
        redactor: Redactor | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.bus = bus
        self.session_id = session_id
        self.redactor = redactor or default_redactor()
        self.clock = clock
        self.step: int | None = None  # the agent step new events belong to, unless given explicitly
        self._next_seq = next_seq
        self._lock = threading.Lock()

    @property
    def last_seq(self) -> int:
        return self._next_seq - 1

    def emit(self, kind: str, payload: dict[str, Any] | None = None, *, step: int | None = None) -> Event:
        payload = payload or {}
        # Everything that costs (encoding, redaction, building the event) happens before the lock: several
        # producers share this emitter, and a Python thread holding a lock while it is descheduled makes
        # the others queue behind it (a lock convoy). Under the lock: a seq, a timestamp, a few appends.
        raw = dumps(payload)
        if json_needs_cleaning(raw):  # terminal control sequences never travel further (sanitize.py)
            payload = clean_value(payload)
            raw = dumps(payload)
        clean = self.redactor.sub(raw)
        if clean is not raw:
            try:
                payload = json.loads(clean)
            except ValueError:  # never store what could not be redacted safely
                payload, clean = {"redaction_failed": True}, '{"redaction_failed":true}'
        event = Event(self.session_id, 0, 0.0, str(kind), self.step if step is None else step, payload, clean)
        with self._lock:
            event.seq = self._next_seq
            self._next_seq += 1
            event.ts = self.clock()
            for sub in self.bus._subs:
                sub.put(event)
        return event
