"""The SQLite backend: the embedded default store (see :mod:`gateway.store.sqlite.store`)."""

from gateway.store.sqlite.lock import DataDirLock
from gateway.store.sqlite.store import SqliteStore
from gateway.store.sqlite.threads import WriterStats

__all__ = ["DataDirLock", "SqliteStore", "WriterStats"]
