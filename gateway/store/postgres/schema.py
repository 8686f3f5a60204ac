"""PostgreSQL schema versions: the numbered files in ``gateway/store/migrations/postgres``.

The version is the one row of ``gateway_schema``. Migrating takes a session advisory lock
(one per schema), so two nodes starting at once, or ``gateway db upgrade`` beside starting
nodes, apply each step exactly once; each step commits together with its version bump.

Why this is safe while other nodes run: a migration only ever ADDS (tables, columns with
defaults, indexes), so nodes of the previous version keep reading and writing the tables they
know, and one version's nodes can be replaced one by one. Its DDL waits at most
``lock_timeout`` for the brief table locks it needs, and fails (undone, with a message) rather
than stall every node behind a long transaction. A node refuses a schema NEWER than it knows
(``store.too_new``): it could misread rows that newer code wrote. A released migration never
changes; a change is a new file.
"""

from __future__ import annotations

import functools
from typing import Final

from gateway.errors import GatewayError
from gateway.store.postgres.tables import Connection
from gateway.store.versions import Migration, read

LOCK_TIMEOUT: Final = "10s"


@functools.cache
def migrations() -> tuple[Migration, ...]:
    """Every PostgreSQL migration this code knows, in order; numbered 1, 2, … without gaps."""
    return read("postgres")


def code_version() -> int:
    """The schema version this code reads and writes."""
    return len(migrations())


async def database_version(conn: Connection) -> int:
    """0 for an empty schema (no ``gateway_schema`` table on the search path)."""
    if await conn.fetchval("SELECT to_regclass('gateway_schema')") is None:
        return 0
    version = await conn.fetchval("SELECT version FROM gateway_schema")
    return int(version or 0)


async def check_not_newer(conn: Connection, where: str) -> int:
    """The database's version; GatewayError ``store.too_new`` if this code cannot read it."""
    version = await database_version(conn)
    if version > code_version():
        raise GatewayError(
            f"{where}: the database has schema version {version}, but this gateway only knows "
            f"versions up to {code_version()}; run the newer gateway version that wrote it",
            code="store.too_new",
        )
    return version


async def migrate(conn: Connection, where: str) -> tuple[int, int]:
    """Bring the schema up to :func:`code_version`; (version before, version now)."""
    before = await check_not_newer(conn, where)
    if before == code_version():
        return before, before
    # The lock key names the schema, so that participants in separate schemas of one
    # database migrate independently.
    key = "SELECT hashtext('gateway.migrate:' || current_schema())"
    await conn.execute(f"SELECT pg_advisory_lock(({key}))")
    try:
        for migration in migrations():
            # Re-read under the lock: another node may have migrated meanwhile.
            current = await check_not_newer(conn, where)
            if current >= migration.version:
                continue
            try:
                async with conn.transaction():
                    await conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                    await conn.execute(migration.sql)
                    if migration.version == 1:
                        await conn.execute("CREATE TABLE gateway_schema (version integer NOT NULL)")
                        await conn.execute("INSERT INTO gateway_schema VALUES (1)")
                    else:
                        await conn.execute(
                            "UPDATE gateway_schema SET version = $1", migration.version
                        )
            except GatewayError:
                raise
            except Exception as exc:
                raise GatewayError(
                    f"{where}: migration {migration.name} failed and was undone; the database "
                    f"stays at schema version {migration.version - 1}: {exc}",
                    code="store.migration_failed",
                ) from exc
    finally:
        await conn.execute(f"SELECT pg_advisory_unlock(({key}))")
    return before, await database_version(conn)
