"""The PostgreSQL store: the :class:`~gateway.store.api.Store` contract for several nodes.

Each node opens its own pool on the shared database. Every write is one transaction on one
pooled connection (:class:`~gateway.store.postgres.tables.Tx`); PostgreSQL's row locks,
``FOR UPDATE SKIP LOCKED`` and unique constraints make the nodes agree, so nothing about
another node is kept in this process. The SQL is in ``outbox``, ``inbox`` and ``tables``;
this class converts arguments, maps database failures to StoreError, and never decides
anything about a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Collection, Mapping
from types import TracebackType
from typing import Any, Self, TypeVar

import asyncpg  # type: ignore[import-untyped]

from gateway.errors import GatewayError
from gateway.store.api import (
    Accepted,
    Attempt,
    AuditRecord,
    BlobStore,
    Direction,
    HistoryEntry,
    MessageQuery,
    MessageRecord,
    NewMessage,
    Outcome,
    PeerRoom,
    State,
    StoreError,
    small_contents,
)
from gateway.store.postgres import inbox, outbox, rows, schema, search
from gateway.store.postgres.blobs import PostgresBlobStore, insert_small
from gateway.store.postgres.tables import Connection, Tx
from gateway.store.postgres.url import masked, normalised

log = logging.getLogger(__name__)

T = TypeVar("T")
Clock = Callable[[], dt.datetime]

HEARTBEAT = 5.0  # seconds between a node's heartbeats
DEAD_AFTER = 30.0  # seconds without a heartbeat after which other nodes take a node's leases
GC_GRACE = dt.timedelta(hours=24)  # a blob nobody references is kept this long (see collect)
GC_INTERVAL = 3600.0  # seconds between two collections by a running node
CONNECT_TIMEOUT = 10.0


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class PostgresStore:
    """A gateway's durable state in a PostgreSQL database shared by its nodes."""

    blobs: BlobStore

    def __init__(
        self,
        pool: Any,
        *,
        where: str,
        clock: Clock,
        schema_version: int,
        gc_interval: float,
        node: uuid.UUID | None = None,
        heartbeat: float = HEARTBEAT,
    ) -> None:
        self._pool = pool
        self.where = where  # the URL with its password masked: safe for logs and errors
        self._clock = clock
        self._schema_version = schema_version
        self._blobs = PostgresBlobStore(pool, clock=clock)
        self.blobs = self._blobs
        self._closed = False
        self.node = node  # this process's row in `nodes`; None for operator tools (no claims)
        self._tasks: list[asyncio.Task[None]] = []
        if gc_interval > 0:
            self._tasks.append(
                asyncio.create_task(self._collect_every(gc_interval), name="blob-gc")
            )
        if node is not None:
            self._tasks.append(asyncio.create_task(self._beat(heartbeat), name="heartbeat"))

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        migrate: bool = True,
        check: bool = True,
        clock: Clock = utc_now,
        min_size: int = 2,
        max_size: int = 10,
        gc_interval: float = 0.0,
        heartbeat: float = HEARTBEAT,
    ) -> PostgresStore:
        """Connect, check the schema version, and (``migrate``) bring it up to date.

        ``migrate=False`` is for operator tools: they refuse an older schema instead of
        changing it (``store.outdated``); ``check=False`` does not even check (``gateway db``
        looks at the version itself). ``gc_interval`` > 0 collects unreferenced blobs that
        often (seconds) while the store is open. A migrating store (a gateway node) joins the
        ``nodes`` table and beats every ``heartbeat`` seconds: when it stops for
        :data:`DEAD_AFTER` seconds (a crash), other nodes take over its leases.
        """
        where = masked(url)
        try:
            pool = await asyncpg.create_pool(
                normalised(url),
                min_size=min_size,
                max_size=max_size,
                timeout=CONNECT_TIMEOUT,
                command_timeout=300,
                reset=_end_transaction,
            )
        except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
            raise StoreError(f"{where}: cannot connect to the database: {_safe(exc, url)}") from exc
        try:
            async with pool.acquire() as conn:
                if migrate:
                    before, version = await schema.migrate(conn, where)
                    if before != version:
                        log.info("%s: schema migrated from version %d to %d", where, before,
                                 version)  # fmt: skip
                elif not check:
                    version = await schema.database_version(conn)
                else:
                    version = await schema.check_not_newer(conn, where)
                    if version < schema.code_version():
                        raise GatewayError(
                            f"{where}: the database has schema version {version} and this tool "
                            f"needs {schema.code_version()}; run `gateway db upgrade` first",
                            code="store.outdated",
                        )
                node = None
                if migrate:
                    node = uuid.uuid4()
                    await conn.execute(
                        "INSERT INTO nodes (id, description) VALUES ($1, $2)",
                        node,
                        f"{socket.gethostname()}:{os.getpid()}",
                    )
        except BaseException as exc:
            await pool.close()
            if isinstance(exc, asyncpg.PostgresError | OSError):
                raise StoreError(f"{where}: {_safe(exc, url)}") from exc
            raise
        return cls(
            pool,
            where=where,
            clock=clock,
            schema_version=version,
            gc_interval=gc_interval,
            node=node,
            heartbeat=heartbeat,
        )

    @property
    def schema_version(self) -> int:
        return self._schema_version

    async def upgrade(self) -> tuple[int, int]:
        """Migrate to this code's schema version (``gateway db upgrade``); (before, after)."""
        self._check_open()
        try:
            async with self._pool.acquire() as conn:
                before, after = await schema.migrate(conn, self.where)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            raise StoreError(f"{self.where}: {exc}") from exc
        self._schema_version = after
        return before, after

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.node is not None:
            # Leaving cleanly: whatever this node still leases is free for the others at once.
            with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                await self._pool.execute(
                    "UPDATE nodes SET heartbeat_at = '-infinity' WHERE id = $1", self.node
                )
        await self._pool.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # --- running queries -----------------------------------------------------------------

    async def _write(self, operation: Callable[[Tx], Awaitable[T]]) -> T:
        """Run ``operation`` in one transaction, its audit records appended last."""
        self._check_open()
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                tx = Tx(conn, self._clock())
                result = await operation(tx)
                await tx.close()
            return result
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            raise StoreError(f"database error: {exc}") from exc

    async def _read(self, query: Callable[[Connection], Awaitable[T]]) -> T:
        self._check_open()
        try:
            async with self._pool.acquire() as conn:
                return await query(conn)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            raise StoreError(f"database error: {exc}") from exc

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("the store is closed")

    # --- outbound ------------------------------------------------------------------------

    async def add_outbound(self, message: NewMessage, *, actor: str) -> MessageRecord:
        return await self._write(lambda tx: outbox.add(tx, message, actor))

    async def claim_outbound(
        self,
        owner: str,
        *,
        now: dt.datetime,
        lease: dt.timedelta,
        limit: int,
        per_peer: PeerRoom | None = None,
    ) -> list[MessageRecord]:
        if limit <= 0:
            return []
        who = outbox.Claim(owner, self.node, DEAD_AFTER)
        return await self._read(lambda conn: outbox.claim(conn, who, now, lease, limit, per_peer))

    async def finish_attempt(self, message_id: str, owner: str, outcome: Outcome) -> bool:
        return await self._write(lambda tx: outbox.finish(tx, message_id, owner, outcome))

    async def release_leases(self, owner: str | None = None) -> int:
        return await self._read(lambda conn: outbox.release(conn, owner))

    async def renew_leases(
        self, owner: str, message_ids: Collection[str], *, now: dt.datetime, lease: dt.timedelta
    ) -> int:
        if not message_ids:
            return 0
        ids, until = list(message_ids), rows.aware(now + lease)
        return await self._read(lambda conn: outbox.renew(conn, owner, ids, until))

    # --- inbound and local ---------------------------------------------------------------

    async def add_inbound(
        self,
        message: NewMessage,
        receipt: bytes,
        receipt_signature: bytes,
        *,
        actor: str,
        contents: Mapping[str, bytes] | None = None,
    ) -> Accepted:
        files = small_contents(contents)

        async def write(tx: Tx) -> Accepted:
            for digest, data in files.items():
                await insert_small(tx.conn, digest, data, tx.at)
            return await inbox.add(tx, message, receipt, receipt_signature, actor)

        return await self._write(write)

    async def claim_handoff(
        self, owner: str, *, now: dt.datetime, lease: dt.timedelta, limit: int
    ) -> list[MessageRecord]:
        if limit <= 0:
            return []
        who = outbox.Claim(owner, self.node, DEAD_AFTER)
        return await self._read(lambda conn: inbox.claim(conn, who, now, lease, limit))

    async def mark_handed_off(self, message_id: str, owner: str, *, detail: str) -> bool:
        return await self._write(lambda tx: inbox.mark_handed_off(tx, message_id, owner, detail))

    # --- correlations --------------------------------------------------------------------

    async def put_correlation(self, scope: str, key: str, value: str) -> None:
        async def write(conn: Connection) -> None:
            await conn.execute(
                "INSERT INTO correlations (scope, key, value, updated_at) VALUES ($1, $2, $3, $4)"
                " ON CONFLICT (scope, key) DO UPDATE SET value = excluded.value,"
                " updated_at = excluded.updated_at",
                scope,
                key,
                value,
                self._clock(),
            )

        await self._read(write)

    async def get_correlation(self, scope: str, key: str) -> str | None:
        async def query(conn: Connection) -> str | None:
            value = await conn.fetchval(
                "SELECT value FROM correlations WHERE scope = $1 AND key = $2", scope, key
            )
            return None if value is None else str(value)

        return await self._read(query)

    # --- reading -------------------------------------------------------------------------

    async def get(self, message_id: str) -> MessageRecord | None:
        return await self._one(rows.SELECT_MESSAGES + " WHERE message_id = $1", message_id)

    async def find_inbound(self, document_uid: str) -> MessageRecord | None:
        return await self._one(
            rows.SELECT_MESSAGES
            + " WHERE document_uid = $1 AND direction = 'in' ORDER BY id DESC LIMIT 1",
            document_uid,
        )

    async def _one(self, sql: str, *args: object) -> MessageRecord | None:
        async def query(conn: Connection) -> MessageRecord | None:
            row = await conn.fetchrow(sql, *args)
            return None if row is None else rows.message_record(row)

        return await self._read(query)

    async def list_messages(
        self,
        *,
        direction: Direction | None = None,
        states: tuple[State, ...] = (),
        limit: int = 100,
    ) -> list[MessageRecord]:
        if limit <= 0:
            return []
        where: list[str] = []
        args: list[object] = []
        if direction is not None:
            args.append(direction.value)
            where.append(f"direction = ${len(args)}")
        if states:
            args.append([s.value for s in dict.fromkeys(states)])
            where.append(f"state = ANY(${len(args)}::text[])")
        args.append(limit)
        condition = f" WHERE {' AND '.join(where)}" if where else ""
        # Constant text and numbered parameters only; values never enter the SQL.
        sql = f"{rows.SELECT_MESSAGES}{condition} ORDER BY id DESC LIMIT ${len(args)}"

        async def query(conn: Connection) -> list[MessageRecord]:
            return [rows.message_record(row) for row in await conn.fetch(sql, *args)]

        return await self._read(query)

    async def search(self, query: MessageQuery) -> list[MessageRecord]:
        sql, args = search.query(query)

        async def run(conn: Connection) -> list[MessageRecord]:
            return [rows.message_record(row) for row in await conn.fetch(sql, *args)]

        return await self._read(run)

    async def count_by_state(self) -> dict[tuple[Direction, State], int]:
        async def query(conn: Connection) -> dict[tuple[Direction, State], int]:
            found = await conn.fetch(
                "SELECT direction, state, count(*) AS n FROM messages GROUP BY state, direction"
            )
            return {(Direction(r["direction"]), State(r["state"])): r["n"] for r in found}

        return await self._read(query)

    async def recent_states(self, peer: str, *, limit: int) -> dict[tuple[Direction, State], int]:
        async def query(conn: Connection) -> dict[tuple[Direction, State], int]:
            found = await conn.fetch(
                "SELECT direction, state, count(*) AS n FROM (SELECT direction, state FROM"
                " messages WHERE peer = $1 ORDER BY id DESC LIMIT $2) AS newest"
                " GROUP BY direction, state",
                peer,
                max(limit, 0),
            )
            return {(Direction(r["direction"]), State(r["state"])): r["n"] for r in found}

        return await self._read(query)

    async def history(self, message_id: str) -> list[HistoryEntry]:
        async def query(conn: Connection) -> list[HistoryEntry]:
            found = await conn.fetch(
                rows.SELECT_HISTORY + " WHERE message_id = $1 ORDER BY id", message_id
            )
            return [rows.history_entry(row) for row in found]

        return await self._read(query)

    async def attempts(self, message_id: str) -> list[Attempt]:
        async def query(conn: Connection) -> list[Attempt]:
            found = await conn.fetch(
                rows.SELECT_ATTEMPTS + " WHERE message_id = $1 ORDER BY id", message_id
            )
            return [rows.attempt(row) for row in found]

        return await self._read(query)

    # --- operators -----------------------------------------------------------------------

    async def retry(self, message_id: str, *, actor: str, now: dt.datetime) -> MessageRecord:
        return await self._write(lambda tx: outbox.retry(tx, message_id, actor, now))

    async def cancel(self, message_id: str, *, actor: str) -> MessageRecord:
        return await self._write(lambda tx: outbox.cancel(tx, message_id, actor))

    # --- audit ---------------------------------------------------------------------------

    async def audit(self, *, after: int = 0, limit: int = 1000) -> list[AuditRecord]:
        async def query(conn: Connection) -> list[AuditRecord]:
            found = await conn.fetch(
                rows.SELECT_AUDIT + " WHERE seq > $1 ORDER BY seq LIMIT $2", after, limit
            )
            return [rows.audit_record(row) for row in found]

        return await self._read(query)

    # --- blobs ---------------------------------------------------------------------------

    async def gc_blobs(self, older_than: dt.timedelta = GC_GRACE) -> int:
        """Delete blobs no message references, stored longer than ``older_than`` ago."""
        self._check_open()
        try:
            return await self._blobs.collect(older_than)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            raise StoreError(f"database error: {exc}") from exc

    async def _beat(self, interval: float) -> None:
        """Keep this node's heartbeat fresh (server time), and forget long-gone nodes."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self._pool.execute(
                    "UPDATE nodes SET heartbeat_at = now() WHERE id = $1", self.node
                )
                await self._pool.execute(
                    "DELETE FROM nodes WHERE heartbeat_at < now() - interval '1 day'"
                )
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
                log.warning("%s: heartbeat failed (other nodes may take this node's work after "
                            "%.0f s): %s", self.where, DEAD_AFTER, exc)  # fmt: skip

    async def _collect_every(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                removed = await self.gc_blobs()
            except GatewayError as exc:
                log.warning("blob garbage collection failed, trying again later: %s", exc)
                continue
            if removed:
                log.info("removed %d blobs that no message needs", removed)


async def _end_transaction(conn: Connection) -> None:
    """What a connection needs before it goes back to the pool. asyncpg's default reset runs
    four statements on every release (RESET ALL, UNLISTEN, …) — a round trip and a fifth of
    the server's CPU per store call here — for session state this store never changes: no
    LISTEN, no session settings, advisory locks only in migrations, which release them."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


def _safe(exc: BaseException, url: str) -> str:
    """An exception's text with the URL's password masked (drivers sometimes echo the DSN)."""
    text = str(exc) or type(exc).__name__
    return text.replace(url, masked(url))
