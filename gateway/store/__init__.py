"""Durable state of a gateway: the contract (:mod:`gateway.store.api`) and its backends."""

from __future__ import annotations

from pathlib import Path

from gateway.errors import ConfigError
from gateway.store.api import Store


async def open_store(url: str, data_dir: Path, *, lock: bool = True) -> Store:
    """Open the store a configuration names.

    ``sqlite:///PATH`` is a database file (a relative PATH is taken inside ``data_dir``;
    ``sqlite:////abs/path`` is absolute); blobs and the lock file live in ``data_dir``.
    ``lock=False`` is for operator tools that run beside a live gateway.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ConfigError(f"not a store URL: {url!r} (expected sqlite:///PATH)")
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
    if scheme in ("postgresql", "postgres"):
        raise ConfigError(
            f"{scheme}:// stores (cluster mode, several nodes on one database) arrive in a later "
            "release; use sqlite:///gateway.db for now"
        )
    raise ConfigError(f"unknown store scheme {scheme!r} in {url!r}; known: sqlite")
