"""Blobs in PostgreSQL, for nodes that share no filesystem: chunked, streamed, content-addressed.

A blob is ``blob_chunks`` rows of :data:`CHUNK` bytes under a numeric id, and one ``blobs`` row
naming that id by the content's SHA-256. ``put`` hashes while it streams: each full chunk is
committed as it fills (memory stays at one chunk), and the ``blobs`` row is written last, so a
digest that has a row has all its chunks and is durable (PostgreSQL fsyncs its WAL at commit)
before any message that references it is written. Storing content that is already there only
refreshes the row's ``touched_at``, which garbage collection honours (see :meth:`collect`).

Reading goes chunk by chunk, one short query each (no connection is held while the caller
works), and checks the size and the digest at the end: a damaged blob raises instead of being
passed on. No code path here holds a whole blob in memory. Blobs are never local files, so
:meth:`local_path` is always None.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import asyncpg  # type: ignore[import-untyped]

from gateway.store.api import SMALL_BLOB, BlobRef, StoreError
from gateway.store.blobs import single_chunk

log = logging.getLogger(__name__)

CHUNK: Final = 1 << 20
Pool = Any  # asyncpg.Pool

_SMALL: Final = (
    "WITH new AS (SELECT nextval('blob_ids') AS id),"
    " stored AS (INSERT INTO blobs (sha256, id, size, touched_at)"
    "  SELECT $1, new.id, $2, $3 FROM new"
    "  ON CONFLICT (sha256) DO UPDATE SET touched_at = excluded.touched_at RETURNING id)"
    " INSERT INTO blob_chunks (id, seq, data)"
    " SELECT stored.id, 0, $4::bytea FROM stored, new"
    " WHERE stored.id = new.id AND octet_length($4::bytea) > 0"
)


async def insert_small(conn: Any, digest: str, data: bytes, at: dt.datetime) -> None:
    """Store one small blob (a single chunk) on ``conn`` (a pool, or a connection in the
    caller's transaction)."""
    await conn.execute(_SMALL, digest, len(data), at, data)


class PostgresBlobStore:
    """The :class:`~gateway.store.api.BlobStore` contract on a connection pool."""

    def __init__(self, pool: Pool, *, clock: Callable[[], dt.datetime], chunk: int = CHUNK) -> None:
        self._pool = pool
        self._clock = clock
        self._chunk = chunk

    async def put(self, chunks: AsyncIterator[bytes], *, max_size: int | None = None) -> BlobRef:
        # Database failures become StoreError in the helpers below; the source's own errors
        # (a peer that went away) reach the caller unchanged.
        hasher = hashlib.sha256()
        buffer = bytearray()
        size = seq = 0
        upload: int | None = None
        try:
            async for piece in chunks:
                size += len(piece)
                if max_size is not None and size > max_size:
                    raise ValueError(f"the blob is larger than the limit of {max_size} bytes")
                hasher.update(piece)
                buffer += piece
                while len(buffer) >= self._chunk:
                    if upload is None:
                        upload = await self._start_upload()
                    await self._write_chunk(upload, seq, bytes(buffer[: self._chunk]))
                    del buffer[: self._chunk]
                    seq += 1
            digest = hasher.hexdigest()
            if upload is None:
                await self._put_small(digest, bytes(buffer))
            else:
                if buffer:
                    await self._write_chunk(upload, seq, bytes(buffer))
                await self._finish_upload(upload, digest, size)
                upload = None
        except BaseException:
            if upload is not None:
                await self._discard(upload)
            raise
        return BlobRef(sha256=digest, size=size)

    async def put_bytes(self, data: bytes) -> BlobRef:
        return await self.put(single_chunk(data))

    def read(self, sha256: str, *, chunk_size: int = CHUNK) -> AsyncIterator[bytes]:
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        return self._read_mapped(sha256, chunk_size)

    async def _read_mapped(self, sha256: str, chunk_size: int) -> AsyncIterator[bytes]:
        with _database_errors():
            async for chunk in self._read(sha256, chunk_size):
                yield chunk

    async def exists(self, sha256: str) -> bool:
        with _database_errors():
            found = await self._pool.fetchval("SELECT 1 FROM blobs WHERE sha256 = $1", sha256)
        return found is not None

    def local_path(self, sha256: str) -> Path | None:
        return None  # blobs live in the database, so that every node can read them

    async def small(self, sha256s: Sequence[str]) -> dict[str, bytes]:
        wanted = list(dict.fromkeys(sha256s))
        if not wanted:
            return {}
        with _database_errors():
            rows = await self._pool.fetch(
                "SELECT b.sha256, b.size, c.data FROM blobs b"
                " LEFT JOIN blob_chunks c ON c.id = b.id AND c.seq = 0"
                " WHERE b.sha256 = ANY($1::text[]) AND b.size <= $2",
                wanted,
                min(SMALL_BLOB, self._chunk),
            )
        found: dict[str, bytes] = {}
        for row in rows:
            data = row["data"] or b""
            # Anything unexpected (more than one chunk, damage) is left to read(), which
            # streams and checks it.
            if len(data) == row["size"] and hashlib.sha256(data).hexdigest() == row["sha256"]:
                found[row["sha256"]] = data
        return found

    async def collect(self, older_than: dt.timedelta) -> int:
        """Delete blobs that no message references and nobody stored for ``older_than``, and
        chunks of uploads abandoned that long ago; the number of blobs deleted.

        The grace period covers the moments between storing a blob and committing the
        message that references it (an intake, a receipt being signed): it must be longer
        than any of those, so keep it at hours, not seconds.
        """
        cutoff = self._clock() - older_than
        async with self._pool.acquire() as conn, conn.transaction():
            gone = await conn.fetch(
                "DELETE FROM blobs b WHERE touched_at < $1 AND NOT EXISTS"
                " (SELECT 1 FROM message_blobs m WHERE m.sha256 = b.sha256) RETURNING id",
                cutoff,
            )
            abandoned = await conn.fetch(
                "DELETE FROM blob_uploads WHERE started_at < $1 RETURNING id", cutoff
            )
            ids = [row["id"] for row in gone] + [row["id"] for row in abandoned]
            if ids:
                await conn.execute("DELETE FROM blob_chunks WHERE id = ANY($1::bigint[])", ids)
        return len(gone)

    # --- writing -------------------------------------------------------------------------

    async def _put_small(self, digest: str, data: bytes) -> None:
        # Content already stored costs one short UPDATE and sends no data.
        with _database_errors():
            touched = await self._pool.fetchval(
                "UPDATE blobs SET touched_at = $2 WHERE sha256 = $1 RETURNING 1",
                digest,
                self._clock(),
            )
            if touched is None:
                await insert_small(self._pool, digest, data, self._clock())

    async def _start_upload(self) -> int:
        with _database_errors():
            upload: int = await self._pool.fetchval(
                "INSERT INTO blob_uploads (id, started_at) VALUES (nextval('blob_ids'), $1)"
                " RETURNING id",
                self._clock(),
            )
        return upload

    async def _write_chunk(self, upload: int, seq: int, data: bytes) -> None:
        with _database_errors():
            await self._pool.execute(
                "INSERT INTO blob_chunks (id, seq, data) VALUES ($1, $2, $3)", upload, seq, data
            )

    async def _finish_upload(self, upload: int, digest: str, size: int) -> None:
        with _database_errors():
            await self._finish(upload, digest, size)

    async def _finish(self, upload: int, digest: str, size: int) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            owner = await conn.fetchval(
                "INSERT INTO blobs (sha256, id, size, touched_at) VALUES ($1, $2, $3, $4)"
                " ON CONFLICT (sha256) DO UPDATE SET touched_at = excluded.touched_at"
                " RETURNING id",
                digest,
                upload,
                size,
                self._clock(),
            )
            if owner != upload:  # the same content was stored before: keep that copy
                await conn.execute("DELETE FROM blob_chunks WHERE id = $1", upload)
            await conn.execute("DELETE FROM blob_uploads WHERE id = $1", upload)

    async def _discard(self, upload: int) -> None:
        """Best effort: what a failed put leaves behind is collected later anyway."""
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute("DELETE FROM blob_chunks WHERE id = $1", upload)
                await conn.execute("DELETE FROM blob_uploads WHERE id = $1", upload)
        except Exception as exc:  # the put's own error is the one to report
            log.warning("could not remove the chunks of an unfinished blob upload: %s", exc)

    # --- reading -------------------------------------------------------------------------

    async def _read(self, sha256: str, chunk_size: int) -> AsyncIterator[bytes]:
        first = await self._pool.fetchrow(
            "SELECT b.id, b.size, c.data FROM blobs b"
            " LEFT JOIN blob_chunks c ON c.id = b.id AND c.seq = 0 WHERE b.sha256 = $1",
            sha256,
        )
        if first is None:
            raise KeyError(sha256)
        blob_id, size = first["id"], first["size"]
        hasher = hashlib.sha256()
        pending = bytearray()
        seen = seq = 0
        data: bytes | None = first["data"]
        while data is not None:
            hasher.update(data)
            seen += len(data)
            pending += data
            while len(pending) >= chunk_size:
                yield bytes(pending[:chunk_size])
                del pending[:chunk_size]
            if seen >= size:
                break
            seq += 1
            data = await self._pool.fetchval(
                "SELECT data FROM blob_chunks WHERE id = $1 AND seq = $2", blob_id, seq
            )
        if seen != size or hasher.hexdigest() != sha256:
            raise StoreError(
                f"blob {sha256} is damaged in the database ({seen} of {size} bytes, or a digest "
                "that differs); it cannot be read"
            )
        if pending:
            yield bytes(pending)


@contextmanager
def _database_errors() -> Iterator[None]:
    """A database failure is the store's StoreError (503, try later), as for every write."""
    try:
        yield
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        raise StoreError(f"blob store: database error: {exc}") from exc
