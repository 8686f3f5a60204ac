"""Opening SQLite connections with the settings the store depends on.

The writer's connection switches the file to WAL (so readers never block it, nor it them) and
sets the durability level; reader connections are ``query_only``, so a bug cannot write
through them.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Literal

from gateway.store.api import StoreError

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]

PAGE_SIZE = 16384  # bytes; small files are kept in the database (gateway.store.sqlite.blobs)
BUSY_TIMEOUT_MS = 10_000  # a CLI writing beside the gateway holds the lock for milliseconds


def _fold(value: str | None) -> str | None:
    return value.casefold() if value is not None else None


def connect(
    path: Path, *, synchronous: Synchronous = "FULL", readonly: bool = False
) -> sqlite3.Connection:
    """A connection in autocommit mode: the store issues BEGIN/COMMIT itself."""
    if synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
        raise ValueError(f"synchronous must be OFF, NORMAL, FULL or EXTRA, not {synchronous!r}")
    conn = sqlite3.connect(
        path,
        isolation_level=None,
        check_same_thread=False,  # created here, then used by exactly one store thread
        timeout=BUSY_TIMEOUT_MS / 1000,
    )
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS:d}")
        if readonly:
            conn.execute("PRAGMA query_only = ON")
        else:
            # For a new database only (an existing one keeps its own): a 100 KiB file is then
            # 7 pages instead of 26, each written to the log and checkpointed with one call.
            conn.execute(f"PRAGMA page_size = {PAGE_SIZE:d}")
            (mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
            if str(mode).lower() != "wal":
                raise StoreError(f"{path}: cannot switch the database to WAL (got {mode!r})")
            conn.execute(f"PRAGMA synchronous = {synchronous}")
            conn.execute("PRAGMA foreign_keys = ON")
            # Bound the WAL file after checkpoints; it otherwise keeps its largest size.
            conn.execute("PRAGMA journal_size_limit = 67108864")
        conn.execute("PRAGMA cache_size = -32768")  # 32 MiB per connection
        conn.execute("PRAGMA temp_store = MEMORY")
        # SQLite folds only ASCII case; registration numbers are often Cyrillic ("ФМ-12/06").
        conn.create_function("gw_fold", 1, _fold, deterministic=True)
    except BaseException:
        conn.close()
        raise
    return conn
