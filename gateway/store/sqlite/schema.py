"""Schema versions: the numbered SQL files in ``gateway/store/migrations`` and applying them.

The database's version is ``PRAGMA user_version``. Each migration runs in its own transaction
together with the version bump, so a crash leaves the database at one version or the next,
never between. A database newer than this code is refused: running old code on a newer schema
could write rows the newer code misreads. This module never changes a migration once released;
a change is a new file.
"""

from __future__ import annotations

import functools
import sqlite3
from pathlib import Path

from gateway.errors import GatewayError
from gateway.store.versions import Migration, read


@functools.cache
def migrations() -> tuple[Migration, ...]:
    """Every migration this code knows, in order; numbered 1, 2, … without gaps."""
    return read()


def code_version() -> int:
    """The schema version this code reads and writes."""
    return len(migrations())


def database_version(conn: sqlite3.Connection) -> int:
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    return int(version)


def check_not_newer(conn: sqlite3.Connection, path: Path) -> int:
    """The database's version; GatewayError ``store.too_new`` if this code cannot read it."""
    version = database_version(conn)
    if version > code_version():
        raise GatewayError(
            f"{path}: the database has schema version {version}, but this gateway only knows "
            f"versions up to {code_version()}; run the newer gateway that wrote it",
            code="store.too_new",
        )
    return version


def migrate(conn: sqlite3.Connection, path: Path) -> int:
    """Bring the database up to :func:`code_version`; returns the version now in force.

    ``conn`` must be in autocommit mode (``isolation_level=None``): each migration opens its
    own ``BEGIN IMMEDIATE`` so that two processes cannot apply the same step twice.
    """
    check_not_newer(conn, path)
    for migration in migrations():
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Re-read inside the write lock: another process may have migrated meanwhile.
            current = check_not_newer(conn, path)
            if current >= migration.version:
                conn.execute("ROLLBACK")
                continue
            for statement in _statements(migration.sql):
                conn.execute(statement)
            # PRAGMA takes no parameters; the version is an int from our own file name.
            conn.execute(f"PRAGMA user_version = {migration.version:d}")
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise GatewayError(
                    f"{path}: migration {migration.name} failed and was undone; the database "
                    f"stays at schema version {migration.version - 1}: {exc}",
                    code="store.migration_failed",
                ) from exc
            raise
    return database_version(conn)


def _statements(script: str) -> list[str]:
    """Split a script into statements; ``executescript`` cannot be used because it commits
    any open transaction first, which would apply a migration outside its transaction."""
    statements = []
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        # complete_statement knows string literals, comments and CREATE TRIGGER … END.
        if sqlite3.complete_statement(pending):
            if _has_code(pending):
                statements.append(pending)
            pending = ""
    if _has_code(pending.rstrip(";")):
        raise ValueError(f"incomplete SQL statement at the end of a migration: {pending!r}")
    return statements


def _has_code(sql: str) -> bool:
    lines = (line.split("--", 1)[0] for line in sql.splitlines())
    return any(line.strip(" \t;") for line in lines)
