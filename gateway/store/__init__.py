"""Durable state of a gateway: the contract (:mod:`gateway.store.api`) and its backends."""

from __future__ import annotations

from pathlib import Path

from gateway.errors import ConfigError
from gateway.store.api import Store
from gateway.store.postgres.url import masked

GC_INTERVAL = 3600.0  # seconds between two blob collections by a running gateway
SHARED_SCHEMES = ("postgresql", "postgres")


def is_shared(url: str) -> bool:
    """Whether the store is a database several nodes share (cluster mode): then no node may
    take back leases at start-up, and the store collects its own blobs."""
    return url.partition("://")[0] in SHARED_SCHEMES


async def open_store(url: str, data_dir: Path, *, lock: bool = True) -> Store:
    """Open the store a configuration names.

    ``sqlite:///PATH`` is a database file (a relative PATH is taken inside ``data_dir``;
    ``sqlite:////abs/path`` is absolute); blobs and the lock file live in ``data_dir``.
    ``lock=False`` is for operator tools that run beside a live gateway.
    ``postgresql://USER@HOST/DB`` is a database several nodes share (cluster mode); the
    password, if the URL has one, never appears in a message.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ConfigError(
            f"not a store URL: {masked(url)!r} (expected sqlite:///PATH or postgresql://…)"
        )
    if scheme == "sqlite":
        if not rest.startswith("/") or rest in ("/", "/:memory:"):
            raise ConfigError(
                f"a SQLite store needs a file: sqlite:///gateway.db (in the data folder) or "
                f"sqlite:////absolute/path, not {url!r}"
            )
        # Imported on use: the backend imports gateway.audit, which imports this package.
        from gateway.store.sqlite import SqliteStore

        path = Path(rest[1:])
        database = path if path.is_absolute() else data_dir / path
        return await SqliteStore.open(data_dir, database=database, lock=lock)
    if scheme in SHARED_SCHEMES:
        try:
            from gateway.store.postgres.store import PostgresStore
        except ImportError as exc:
            raise ConfigError(
                "a postgresql:// store needs the asyncpg package: install the gateway with its "
                "postgres extra (pip install 'interregional-gateway[postgres]')"
            ) from exc
        # A gateway (lock=True) migrates and collects unreferenced blobs; an operator tool
        # beside running nodes only reads and acts, and asks for `gateway db upgrade` instead.
        return await PostgresStore.open(
            url, migrate=lock, gc_interval=GC_INTERVAL if lock else 0.0
        )
    raise ConfigError(
        f"unknown store scheme {scheme!r} in {masked(url)!r}; known: sqlite, postgresql"
    )
