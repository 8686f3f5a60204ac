"""``gateway db``: the store's schema, for operators (``gateway db upgrade``, ``db status``).

``upgrade`` is safe while other nodes of a cluster run: it takes the database's migration
lock, and migrations only add (see :mod:`gateway.store.postgres.schema`). On the embedded
SQLite store it migrates only when no gateway holds the data folder (a gateway migrates its
own database at start-up). A store URL's password is never printed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from gateway import config as cfg
from gateway.cli_options import config_option
from gateway.errors import GatewayError
from gateway.store import is_shared, open_store
from gateway.store.postgres.url import masked


@click.group("db")
def db() -> None:
    """The gateway's database: schema versions and upgrades."""


@db.command("upgrade")
@config_option
def upgrade(config_path: Path) -> None:
    """Bring the database's schema up to this gateway version (safe beside running nodes)."""
    try:
        config = cfg.load(config_path)
        before, after, known = asyncio.run(_upgrade(config.store, config.data_dir))
    except GatewayError as exc:
        raise click.ClickException(f"[{exc.code}] {exc.message}") from None
    where = masked(config.store)
    if before == after:
        click.echo(f"{where}: schema version {after}, up to date (this gateway knows {known})")
    else:
        click.echo(f"{where}: schema upgraded from version {before} to {after}")


@db.command("status")
@config_option
def status(config_path: Path) -> None:
    """Show the database's schema version and the one this gateway needs."""
    try:
        config = cfg.load(config_path)
        version, known = asyncio.run(_status(config.store, config.data_dir))
    except GatewayError as exc:
        raise click.ClickException(f"[{exc.code}] {exc.message}") from None
    state = "up to date" if version == known else ("newer" if version > known else "outdated")
    click.echo(f"{masked(config.store)}: schema version {version}; this gateway knows {known} "
               f"({state})")  # fmt: skip


async def _upgrade(url: str, data_dir: Path) -> tuple[int, int, int]:
    if is_shared(url):
        from gateway.store.postgres import schema
        from gateway.store.postgres.store import PostgresStore

        async with await PostgresStore.open(url, migrate=False, check=False) as shared:
            before, after = await shared.upgrade()
        return before, after, schema.code_version()
    from gateway.store.sqlite import SqliteStore
    from gateway.store.sqlite import schema as sqlite_schema

    before = await asyncio.to_thread(_sqlite_version, url, data_dir)
    store = await open_store(url, data_dir, lock=False)  # migrates if no gateway holds it
    try:
        assert isinstance(store, SqliteStore)
        after = store.schema_version
    finally:
        await store.close()
    return before, after, sqlite_schema.code_version()


async def _status(url: str, data_dir: Path) -> tuple[int, int]:
    if is_shared(url):
        from gateway.store.postgres import schema
        from gateway.store.postgres.store import PostgresStore

        async with await PostgresStore.open(url, migrate=False, check=False) as shared:
            return shared.schema_version, schema.code_version()
    from gateway.store.sqlite import schema as sqlite_schema

    version = await asyncio.to_thread(_sqlite_version, url, data_dir)
    return version, sqlite_schema.code_version()


def _sqlite_version(url: str, data_dir: Path) -> int:
    import sqlite3

    path = Path(url.partition("://")[2][1:])
    database = path if path.is_absolute() else data_dir / path
    if not database.exists():
        return 0
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        return int(version)
    finally:
        conn.close()
