"""The SQLite store: the :class:`~gateway.store.api.Store` contract on one database file.

Writes go to the single writer thread (group commit); reads go to the reader thread beside it
(WAL readers never wait for the writer's fsyncs). Small blobs are rows of the database, large
ones files in the data folder (:mod:`gateway.store.sqlite.blobs`), beside the lock file. This
class only wires the parts together and converts arguments; the SQL is in ``outbox``,
``inbox`` and ``tables``, and no queue policy lives anywhere here.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sqlite3
import time
from collections.abc import Collection, Mapping
from pathlib import Path
from types import TracebackType
from typing import Self

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
    small_contents,
)
from gateway.store.blobs import FilesystemBlobStore
from gateway.store.sqlite import blobs as blob_rows
from gateway.store.sqlite import inbox, outbox, rows, schema, search, tables
from gateway.store.sqlite.blobs import INLINE_MAX, SqliteBlobStore
from gateway.store.sqlite.connections import Synchronous, connect
from gateway.store.sqlite.lock import DataDirLock
from gateway.store.sqlite.tables import Clock
from gateway.store.sqlite.threads import Reader, Writer, WriterStats

DATABASE_NAME = "gateway.db"


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class SqliteStore:
    """A gateway's durable state in ``<data_dir>/gateway.db`` and ``<data_dir>/blobs``."""

    blobs: BlobStore

    def __init__(
        self,
        *,
        path: Path,
        writer: Writer,
        reader: Reader,
        blobs: SqliteBlobStore,
        lock: DataDirLock | None,
        clock: Clock,
        schema_version: int,
    ) -> None:
        self.path = path
        self.blobs = blobs
        self._blobs = blobs
        self._writer = writer
        self._reader = reader
        self._lock = lock
        self._clock = clock
        self._schema_version = schema_version
        self._closed = False

    @classmethod
    async def open(
        cls,
        data_dir: Path,
        *,
        database: Path | None = None,
        lock: bool = True,
        synchronous: Synchronous = "FULL",
        clock: Clock = utc_now,
        max_batch: int = 256,
        inline_max: int = INLINE_MAX,
    ) -> SqliteStore:
        """Open (creating and migrating as needed) the store of a data folder.

        ``lock=False`` is for operator tools beside a running gateway: they may read and do
        single actions, but never migrate under it. ``synchronous`` below FULL trades the last
        commits before a power cut for speed; the default keeps every acknowledged write.
        """
        path = database if database is not None else data_dir / DATABASE_NAME
        held: DataDirLock | None = None
        conn: sqlite3.Connection | None = None
        reading: sqlite3.Connection | None = None
        try:
            await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
            if lock:
                held = await asyncio.to_thread(DataDirLock.acquire, data_dir)
            conn = await asyncio.to_thread(connect, path, synchronous=synchronous)
            version = await asyncio.to_thread(_migrate, conn, path, data_dir, held)
            reading = await asyncio.to_thread(connect, path, readonly=True)
            files = FilesystemBlobStore(data_dir / "blobs")
            if held is not None:  # only the lock holder may assume a temp file is abandoned
                await asyncio.to_thread(files.remove_stale_temp_files)
        except BaseException as exc:
            for opened in (conn, reading):
                if opened is not None:
                    opened.close()
            if held is not None:
                held.release()
            if isinstance(exc, sqlite3.Error):
                raise GatewayError(
                    f"{path}: cannot open the database: {exc}", code="store.unreadable"
                ) from exc
            raise
        writer = Writer(conn, max_batch=max_batch)
        reader = Reader(reading, max_batch=max_batch)
        return cls(
            path=path,
            writer=writer,
            reader=reader,
            blobs=SqliteBlobStore(files, writer, reader, inline_max=inline_max),
            lock=held,
            clock=clock,
            schema_version=version,
        )

    @property
    def schema_version(self) -> int:
        return self._schema_version

    @property
    def writer_stats(self) -> WriterStats:
        """Commits and operations so far: how well group commit is batching."""
        return self._writer.stats

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self._writer.close()  # finishes every write already submitted
        finally:
            try:
                await self._reader.close()
            finally:
                if self._lock is not None:
                    self._lock.release()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # --- outbound ------------------------------------------------------------------------

    async def add_outbound(self, message: NewMessage, *, actor: str) -> MessageRecord:
        return await self._writer.submit(lambda conn: outbox.add(conn, message, actor, self._clock))

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
        return await self._writer.submit(
            lambda conn: outbox.claim(conn, owner, now, lease, limit, per_peer)
        )

    async def finish_attempt(self, message_id: str, owner: str, outcome: Outcome) -> bool:
        return await self._writer.submit(
            lambda conn: outbox.finish(conn, message_id, owner, outcome, self._clock)
        )

    async def release_leases(self, owner: str | None = None) -> int:
        return await self._writer.submit(lambda conn: outbox.release(conn, owner))

    async def renew_leases(
        self, owner: str, message_ids: Collection[str], *, now: dt.datetime, lease: dt.timedelta
    ) -> int:
        if not message_ids:
            return 0
        ids = json.dumps(list(message_ids))  # read here: the caller's collection may change
        until = rows.to_us(now + lease)
        return await self._writer.submit(lambda conn: outbox.renew(conn, owner, ids, until))

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
        stored_at = time.time()

        def write(conn: sqlite3.Connection) -> Accepted:
            for digest, data in files.items():
                blob_rows.insert(conn, digest, data, stored_at)
            return inbox.add(conn, message, receipt, receipt_signature, actor, self._clock)

        accepted = await self._writer.submit(write)
        self._blobs.remember(files)
        return accepted

    async def claim_handoff(
        self, owner: str, *, now: dt.datetime, lease: dt.timedelta, limit: int
    ) -> list[MessageRecord]:
        if limit <= 0:
            return []
        return await self._writer.submit(lambda conn: inbox.claim(conn, owner, now, lease, limit))

    async def mark_handed_off(self, message_id: str, owner: str, *, detail: str) -> bool:
        return await self._writer.submit(
            lambda conn: inbox.mark_handed_off(conn, message_id, owner, detail, self._clock)
        )

    # --- correlations --------------------------------------------------------------------

    async def put_correlation(self, scope: str, key: str, value: str) -> None:
        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO correlations (scope, key, value, updated_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (scope, key) DO UPDATE SET value = excluded.value,"
                " updated_at = excluded.updated_at",
                (scope, key, value, tables.now_us(self._clock)),
            )

        await self._writer.submit(write)

    async def get_correlation(self, scope: str, key: str) -> str | None:
        def query(conn: sqlite3.Connection) -> str | None:
            row = conn.execute(
                "SELECT value FROM correlations WHERE scope = ? AND key = ?", (scope, key)
            ).fetchone()
            return None if row is None else str(row[0])

        return await self._reader.submit(query)

    # --- reading -------------------------------------------------------------------------

    async def get(self, message_id: str) -> MessageRecord | None:
        def query(conn: sqlite3.Connection) -> MessageRecord | None:
            row = conn.execute(
                rows.SELECT_MESSAGES + " WHERE message_id = ?",
                (message_id,),
            ).fetchone()
            return None if row is None else rows.message_record(row)

        return await self._reader.submit(query)

    async def find_inbound(self, document_uid: str) -> MessageRecord | None:
        def query(conn: sqlite3.Connection) -> MessageRecord | None:
            row = conn.execute(
                rows.SELECT_MESSAGES + " WHERE document_uid = ? AND direction = 'in'"
                " ORDER BY id DESC LIMIT 1",
                (document_uid,),
            ).fetchone()
            return None if row is None else rows.message_record(row)

        return await self._reader.submit(query)

    async def list_messages(
        self,
        *,
        direction: Direction | None = None,
        states: tuple[State, ...] = (),
        limit: int = 100,
    ) -> list[MessageRecord]:
        if limit <= 0:
            return []
        sql, params = _list_query(direction, tuple(dict.fromkeys(states)), limit)

        def query(conn: sqlite3.Connection) -> list[MessageRecord]:
            return [rows.message_record(row[1:]) for row in conn.execute(sql, params)]

        return await self._reader.submit(query)

    async def search(self, query: MessageQuery) -> list[MessageRecord]:
        if query.limit <= 0:
            return []
        sql, params = search.query(query)

        def run(conn: sqlite3.Connection) -> list[MessageRecord]:
            return [rows.message_record(row[1:]) for row in conn.execute(sql, params)]

        return await self._reader.submit(run)

    async def count_by_state(self) -> dict[tuple[Direction, State], int]:
        def query(conn: sqlite3.Connection) -> dict[tuple[Direction, State], int]:
            found = conn.execute(
                "SELECT direction, state, count(*) FROM messages GROUP BY state, direction"
            )
            return {(Direction(d), State(s)): n for d, s, n in found}

        return await self._reader.submit(query)

    async def recent_states(self, peer: str, *, limit: int) -> dict[tuple[Direction, State], int]:
        def query(conn: sqlite3.Connection) -> dict[tuple[Direction, State], int]:
            found = conn.execute(
                "SELECT direction, state, count(*) FROM (SELECT direction, state FROM messages"
                " WHERE peer = ? ORDER BY id DESC LIMIT ?) GROUP BY direction, state",
                (peer, max(limit, 0)),
            )
            return {(Direction(d), State(s)): n for d, s, n in found}

        return await self._reader.submit(query)

    async def history(self, message_id: str) -> list[HistoryEntry]:
        def query(conn: sqlite3.Connection) -> list[HistoryEntry]:
            found = conn.execute(
                rows.SELECT_HISTORY + " WHERE message_id = ? ORDER BY id",
                (message_id,),
            )
            return [rows.history_entry(row) for row in found]

        return await self._reader.submit(query)

    async def attempts(self, message_id: str) -> list[Attempt]:
        def query(conn: sqlite3.Connection) -> list[Attempt]:
            found = conn.execute(
                rows.SELECT_ATTEMPTS + " WHERE message_id = ? ORDER BY id",
                (message_id,),
            )
            return [rows.attempt(row) for row in found]

        return await self._reader.submit(query)

    # --- operators -----------------------------------------------------------------------

    async def retry(self, message_id: str, *, actor: str, now: dt.datetime) -> MessageRecord:
        return await self._writer.submit(
            lambda conn: outbox.retry(conn, message_id, actor, now, self._clock)
        )

    async def cancel(self, message_id: str, *, actor: str) -> MessageRecord:
        return await self._writer.submit(
            lambda conn: outbox.cancel(conn, message_id, actor, self._clock)
        )

    # --- audit ---------------------------------------------------------------------------

    async def audit(self, *, after: int = 0, limit: int = 1000) -> list[AuditRecord]:
        def query(conn: sqlite3.Connection) -> list[AuditRecord]:
            found = conn.execute(
                rows.SELECT_AUDIT + " WHERE seq > ? ORDER BY seq LIMIT ?",
                (after, limit),
            )
            return [rows.audit_record(row) for row in found]

        return await self._reader.submit(query)

    # --- blob garbage collection ---------------------------------------------------------

    async def gc_blobs(self, older_than: dt.timedelta) -> int:
        # The digests every message references, then a walk of the blob folder: memory and
        # time grow with the number of files, fine for what one SQLite gateway holds.
        keep = await _referenced(self._reader)
        return await self._blobs.collect(keep, older_than=older_than.total_seconds())


async def _referenced(reader: Reader) -> set[str]:
    def query(conn: sqlite3.Connection) -> set[str]:
        found = conn.execute(
            "SELECT DISTINCT json_extract(value, '$[2]') FROM messages, json_each(messages.files)"
        )
        return {str(row[0]) for row in found}

    return await reader.submit(query)


def _list_query(
    direction: Direction | None, states: tuple[State, ...], limit: int
) -> tuple[str, tuple[object, ...]]:
    """Newest first, optionally by direction and states.

    Several states are one newest-first index range each, merged: a single ``state IN (…)``
    would make SQLite sort every matching row (thousands of dead letters) to return a page.
    All text here is constant; values are parameters.
    """
    select = "SELECT id, " + rows.MESSAGE_COLUMNS + " FROM messages"  # noqa: S608
    by_direction = "direction = ?" if direction is not None else ""
    direction_params = (direction.value,) if direction is not None else ()
    if not states:
        where = f" WHERE {by_direction}" if by_direction else ""
        return f"{select}{where} ORDER BY id DESC LIMIT ?", (*direction_params, limit)
    and_direction = f" AND {by_direction}" if by_direction else ""
    part = f"SELECT * FROM ({select} WHERE state = ?{and_direction} ORDER BY id DESC LIMIT ?)"  # noqa: S608
    params: list[object] = []
    for state in states:
        params += [state.value, *direction_params, limit]
    union = " UNION ALL ".join([part] * len(states))
    return f"{union} ORDER BY id DESC LIMIT ?", (*params, limit)


def _migrate(conn: sqlite3.Connection, path: Path, data_dir: Path, held: DataDirLock | None) -> int:
    version = schema.check_not_newer(conn, path)
    if version == schema.code_version():
        return version
    if held is not None:
        return schema.migrate(conn, path)
    # Without the lock (an operator tool) migrate only when no gateway runs: a running one
    # was started against the old schema and must not find its tables changed under it.
    try:
        with DataDirLock.acquire(data_dir):
            return schema.migrate(conn, path)
    except GatewayError as exc:
        if exc.code != "store.locked":
            raise
        raise GatewayError(
            f"{path}: the database has schema version {version} and this tool needs "
            f"{schema.code_version()}; the running gateway that holds {data_dir / 'gateway.lock'} "
            "must be upgraded first (it migrates at start-up)",
            code="store.outdated",
        ) from exc
