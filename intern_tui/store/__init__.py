"""The session store: SQLite (WAL), an append-only event log plus projections, one writer thread."""

from .db import SessionLock, Store, open_store
from .schema import SCHEMA_VERSION
from .writer import StoreWriter

__all__ = ["SCHEMA_VERSION", "SessionLock", "Store", "StoreWriter", "open_store"]
