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
